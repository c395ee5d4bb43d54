"""The socket protocol: RemoteSource against ApiServer serving a small in-memory FleetSource.

`MemoryFleet` is a real FleetSource (two installers, scoped views, typed errors) so these tests
pin the transport alone; the daemon tests run the same client against the real service.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
import stat
import struct
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pytest

from console.daemon.api import ApiServer
from console.daemon.remote import RemoteSource, find_daemon
from console.daemon.runtime import (
    AlreadyRunning,
    InstanceLock,
    bind_path,
    candidate_sockets,
    publish_pointer,
)
from console.daemon.wire import VERSION, DaemonUnavailable, Header, frame, raw
from console.desk.records import (
    Incident,
    IncidentDetail,
    IncidentEvent,
    IncidentMark,
    IncidentQuery,
    IncidentRow,
    IncidentStats,
    TimerRow,
)
from console.directory import ScopeKind
from console.errors import NotFound, UsageError
from console.fleetview import (
    AccessDenied,
    CameraRow,
    CheckResult,
    Failing,
    FleetCounts,
    FleetSnapshot,
    MailMessage,
    MailRow,
    SampleRow,
    ServerDetail,
    ServerRow,
    SourceInfo,
)
from console.identity import Caller, this_process
from console.monitor.maintenance import MaintenanceError, MaintenanceWindow
from console.monitor.sample import Sample
from console.sla.policy import SlaInputError
from console.store.database import ReadOnlyError, StoreError

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
ME = this_process().user
_TIMER = TimerRow(
    "first_response", 0, "P1", "running", "none", "2 h on a 24/7 clock", T0,
    T0 + timedelta(hours=2), None, 7200.0, T0 + timedelta(minutes=96), T0 + timedelta(minutes=105),
)  # fmt: skip


def row(n: int, installer: str, status: str = "up") -> ServerRow:
    return ServerRow(
        server_id=f"s{n}",
        name=f"Server {n}",
        customer_id=f"c-{installer}",
        customer_name=f"Customer {installer}",
        installer_id=installer,
        installer_name=installer.upper(),
        status=status,  # type: ignore[arg-type]
        cameras_online=3,
        cameras_total=4,
        cpu_pct=12.5,
        last_check=T0,
        failing=(Failing("camera", "cam-2", 2, "camera offline"),),
        availability_30d=99.5,
        incident=None if n != 1 else IncidentMark(3, "P1", 2, _TIMER),
    )


class MemoryFleet:
    """The whole fleet; `view(installer)` hands out FleetSources, as FleetService does."""

    def __init__(self, n: int = 6) -> None:
        self.rows = {r.server_id: r for r in (row(i, "a" if i % 2 else "b") for i in range(n))}
        self.windows: list[MaintenanceWindow] = []
        self.views: list[MemoryView] = []
        self.gate = asyncio.Event()
        self.gate.set()

    def view(self, scope: Caller | str | None = None) -> MemoryView:
        """As FleetService.view: the daemon passes the peer's Caller, narrowed by its hello."""
        installer = scope.installer if isinstance(scope, Caller) else scope
        author = scope.user if isinstance(scope, Caller) else "embedded-user"
        if installer is not None and installer not in {"a", "b"}:
            raise KeyError(f"unknown installer {installer!r}")
        view = MemoryView(self, installer, author)
        self.views.append(view)
        return view

    def publish(self, rows: Sequence[ServerRow]) -> None:
        for r in rows:
            self.rows[r.server_id] = r
        for view in self.views:
            view.offer(tuple(rows))

    @property
    def open_views(self) -> int:
        return sum(1 for v in self.views if not v.closed)


class MemoryView:
    mode: Literal["embedded", "attached"] = "embedded"

    def __init__(self, fleet: MemoryFleet, installer: str | None, author: str) -> None:
        self.fleet = fleet
        self.installer = installer
        self.author = author
        self.closed = False
        self.queues: list[asyncio.Queue[tuple[ServerRow, ...] | None]] = []

    def _visible(self, r: ServerRow) -> bool:
        return self.installer is None or r.installer_id == self.installer

    def offer(self, rows: tuple[ServerRow, ...]) -> None:
        mine = tuple(r for r in rows if self._visible(r))
        if mine:
            for q in self.queues:
                q.put_nowait(mine)

    async def info(self) -> SourceInfo:
        return SourceInfo("embedded", "test", "/tmp/x.duckdb", 20.0, T0, self.installer, T0)

    async def _no_reports(self, *args: Any, **kwargs: Any) -> Any:
        raise NotFound("this test source keeps no reports")

    report = outage_list = outage_exclude = outage_revoke = _no_reports
    credit_claim = import_samples = _no_reports

    async def snapshot(self) -> FleetSnapshot:
        rows = tuple(r for r in self.fleet.rows.values() if self._visible(r))
        return FleetSnapshot(rows, FleetCounts(servers=len(rows), up=len(rows)), T0, "embedded")

    async def updates(self) -> AsyncIterator[tuple[ServerRow, ...]]:
        queue: asyncio.Queue[tuple[ServerRow, ...] | None] = asyncio.Queue()
        self.queues.append(queue)
        try:
            while (item := await queue.get()) is not None:
                yield item
        finally:
            self.queues.remove(queue)

    async def server_detail(self, server_id: str) -> ServerDetail:
        r = self.fleet.rows.get(server_id)
        if r is None or not self._visible(r):
            raise KeyError(server_id)
        cams = (CameraRow("cam-1", "Entrance", "ok", T0, ""),)
        latest = (SampleRow(T0, "cpu", "", "ok", 12.5, ""),)
        return ServerDetail(r, {"platform": "windows", "cameras": 4}, cams, latest, {"30d": 99.5})

    async def history(
        self, server_id: str, check: str, since: datetime
    ) -> list[tuple[datetime, float | None]]:
        await self.fleet.gate.wait()
        return [(since + timedelta(minutes=i), float(i) if i else None) for i in range(3)]

    async def sql(self, query: str) -> Any:
        if self.installer is not None:
            raise AccessDenied("SQL is not available in an installer-scoped console")
        if query.lstrip().upper().startswith("DELETE"):
            raise ReadOnlyError("refused: DELETE statements are not allowed here")
        if "nope" in query:
            raise StoreError("SQL error: column nope not found")
        return pa.table(
            {
                "ts": pa.array([T0, None], pa.timestamp("us", tz="UTC")),
                "n": [1, 2],
                "s": ["x", None],
            }
        )

    async def check_now(self, server_ids: Sequence[str] | None = None) -> CheckResult:
        if server_ids and "zz" in server_ids:
            raise KeyError("unknown server(s): zz")
        ids = list(server_ids or self.fleet.rows)
        samples = tuple(
            Sample(T0, s, "camera", f"cam{n}", "ok", 1.0, "online") for s in ids for n in range(5)
        )
        rows = tuple(self.fleet.rows[s] for s in ids if s in self.fleet.rows)
        return CheckResult(samples, rows, mails=1)

    async def scope_zone(self, scope_kind: ScopeKind, scope_id: str) -> str:
        if scope_id not in self.fleet.rows:
            raise NotFound(f"no {scope_kind} {scope_id!r}")
        return "Europe/Brussels"

    async def maintenance_list(self) -> list[MaintenanceWindow]:
        return list(self.fleet.windows)

    async def maintenance_add(self, window: MaintenanceWindow) -> MaintenanceWindow:
        if window.scope_id not in self.fleet.rows:
            raise MaintenanceError(f"unknown server {window.scope_id!r}")
        stored = dataclasses.replace(window, id=len(self.fleet.windows) + 1)
        self.fleet.windows.append(stored)
        return stored

    async def maintenance_remove(self, window_id: int) -> None:
        if not any(w.id == window_id for w in self.fleet.windows):
            raise KeyError(f"no maintenance window {window_id}")
        self.fleet.windows = [w for w in self.fleet.windows if w.id != window_id]

    async def outbox(self, limit: int = 100) -> list[MailRow]:
        return [
            MailRow("k1", T0, "alert", "s1", "a", ("a@x.be",), "[NLS] s1", "sent", 1, None, T0)
        ][:limit]

    async def incident_open(
        self,
        customer: str,
        priority: str,
        server: str | None = None,
        incident_type: str = "problem",
        title: str = "",
        at: datetime | None = None,
    ) -> Incident:
        if priority != "P1":
            raise SlaInputError(f"unknown priority {priority!r} in policy p; known: P1")
        when = at or T0
        return Incident(
            7, title, incident_type, priority, priority, "open", server, customer,
            self.installer or "a", "p", when, T0, self.author, "manual",
        )  # fmt: skip

    async def incident_event(
        self, incident_id: int, kind: str, text: str = "", at: datetime | None = None
    ) -> IncidentEvent:
        if incident_id != 7:
            raise NotFound(f"no incident {incident_id}")
        return IncidentEvent(incident_id, 2, at or T0, T0, self.author, kind, text)

    async def incident_show(self, incident_id: int, now: datetime | None = None) -> IncidentDetail:
        incident = await self.incident_open("c", "P1")
        timer = TimerRow(
            "first_response", 0, "P1", "running", "at_risk", "4 h on a 24/7 clock", T0,
            T0 + timedelta(hours=4), None, 3600.0, None, T0 + timedelta(hours=3, minutes=45),
        )  # fmt: skip
        event = await self.incident_event(incident_id, "note", "x")
        return IncidentDetail(incident, (event,), (timer,), now or T0)

    async def incidents(
        self, where: IncidentQuery | None = None, now: datetime | None = None
    ) -> list[IncidentRow]:
        detail = await self.incident_show(7, now)
        query = where or IncidentQuery()
        return [IncidentRow(detail.incident, detail.timers[0], 0, 1, T0)] if query.open_only else []

    async def incident_stats(self, month: str) -> list[IncidentStats]:
        return [IncidentStats("c", "C", "p", month, 5, 4, True, 1, 6, 2, 1)]

    async def mail(self, key: str) -> MailMessage:
        if key != "k1":
            raise KeyError(f"no mail {key!r}")
        return MailMessage((await self.outbox())[0], "Beste a,\n", "<p>Beste a,</p>")

    async def close(self) -> None:
        self.closed = True
        for q in self.queues:
            q.put_nowait(None)


def test_every_fleetsource_call_is_on_the_wire_and_on_every_source() -> None:
    """A method added to the protocol reaches the wire by itself; forgetting its RemoteSource
    line (or its FleetView body) fails here rather than in a console."""
    from console.daemon.wire import LOCAL, METHODS
    from console.fleetview import FleetSource
    from console.monitor.service import FleetView
    from tests.memsource import MemorySource

    declared = {
        name
        for name, fn in vars(FleetSource).items()
        if callable(fn) and not name.startswith("_") and name not in LOCAL
    }
    assert set(METHODS) == declared
    for source in (RemoteSource, FleetView, MemorySource, MemoryView):
        missing = [name for name in (*METHODS, *LOCAL) if not callable(getattr(source, name, None))]
        assert missing == [], (source.__name__, missing)


@pytest.fixture
def short_tmp() -> Any:
    """A short folder for sockets: pytest's tmp_path can exceed the 107-byte socket limit."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="nls-t-", dir="/tmp") as d:
        yield Path(d)


@pytest.fixture
async def served(short_tmp: Path) -> Any:
    fleet = MemoryFleet()
    server = ApiServer(fleet.view, short_tmp / "db.duckdb.sock", queue_limit=8)
    await server.start()
    yield fleet, server
    await server.close()


async def test_every_method_round_trips_with_its_types(served: Any) -> None:
    fleet, server = served
    async with RemoteSource(server.path) as remote:
        info = await remote.info()
        assert info.mode == "attached" and info.interval_s == 20.0 and info.started == T0
        snap = await remote.snapshot()
        assert snap.mode == "attached"
        assert snap.rows == tuple(fleet.rows.values())
        assert isinstance(snap.rows[0].failing[0], Failing)
        detail = await remote.server_detail("s1")
        assert detail.row == fleet.rows["s1"] and detail.cameras[0].since == T0
        assert detail.facts == {"platform": "windows", "cameras": 4}
        hist = await remote.history("s1", "cpu", T0)
        assert hist == [
            (T0, None),
            (T0 + timedelta(minutes=1), 1.0),
            (T0 + timedelta(minutes=2), 2.0),
        ]
        checked = await remote.check_now(["s1", "s2"])
        assert checked == await fleet.view(None).check_now(["s1", "s2"])
        assert isinstance(checked.samples[0], Sample) and checked.samples[0].ts == T0
        assert [r.server_id for r in checked.rows] == ["s1", "s2"] and checked.mails == 1
        assert len((await remote.check_now()).samples) == 30
        assert await remote.scope_zone("server", "s1") == "Europe/Brussels"
        with pytest.raises(NotFound, match="no server 'ghost'"):
            await remote.scope_zone("server", "ghost")
        window = MaintenanceWindow(
            0, "server", "s1", "firmware", T0, starts=T0, ends=T0 + timedelta(hours=1)
        )
        stored = await remote.maintenance_add(window)
        assert stored == dataclasses.replace(window, id=1)
        assert await remote.maintenance_list() == [stored]
        await remote.maintenance_remove(1)
        assert await remote.maintenance_list() == []
        mails = await remote.outbox(5)
        assert mails[0].recipients == ("a@x.be",) and mails[0].sent_at == T0
        mail = await remote.mail("k1")
        assert (mail.row, mail.body_text, mail.body_html) == (
            mails[0],
            "Beste a,\n",
            "<p>Beste a,</p>",
        )
        with pytest.raises(KeyError):
            await remote.mail("nope")


async def test_incident_calls_round_trip_and_the_author_is_the_peer(served: Any) -> None:
    """The daemon's view acts for the OS user at the other end of the socket (SO_PEERCRED),
    whatever the client says; records, timers and errors come back typed."""
    fleet, server = served
    async with RemoteSource(server.path) as remote:
        opened = await remote.incident_open("c", "P1", "s1", "question", "why", T0)
        assert opened == await fleet.view(Caller(os.getuid(), ME, "ops")).incident_open(
            "c", "P1", "s1", "question", "why", T0
        )
        assert opened.opened_by == ME != "embedded-user"
        event = await remote.incident_event(7, "note", "called back")
        assert (event.author, event.kind, event.text, event.at) == (
            ME,
            "note",
            "called back",
            T0,
        )
        detail = await remote.incident_show(7, T0)
        assert detail.timers[0].due == T0 + timedelta(hours=4)
        assert detail.timers[0].state_at(T0 + timedelta(hours=3, minutes=50)) == (
            "running",
            "urgent",
        )
        assert detail.timers[0].state_at(T0 + timedelta(hours=5)) == ("breached", "none")
        rows = await remote.incidents(IncidentQuery(open_only=True))
        assert [r.incident.id for r in rows] == [7] and rows[0].timer == detail.timers[0]
        assert await remote.incidents() == []
        stats = await remote.incident_stats("2026-03")
        assert stats[0].over_quota and stats[0].month == "2026-03"
        # the desk's SlaInputError crosses as its nearest console.errors class
        with pytest.raises(UsageError, match="unknown priority 'P9'"):
            await remote.incident_open("c", "P9")
        with pytest.raises(NotFound, match="no incident 8"):
            await remote.incident_event(8, "note", "x")


async def test_sql_comes_back_as_an_arrow_table(served: Any) -> None:
    _, server = served
    async with RemoteSource(server.path) as remote:
        table = await remote.sql("SELECT 1")
    assert table.column_names == ["ts", "n", "s"]
    assert table.schema.field("ts").type == pa.timestamp("us", tz="UTC")
    assert table.to_pylist()[1] == {"ts": None, "n": 2, "s": None}


async def test_errors_come_back_as_the_same_exceptions(served: Any) -> None:
    _, server = served
    async with RemoteSource(server.path) as remote:
        with pytest.raises(KeyError) as missing:
            await remote.server_detail("nope")
        assert missing.value.args == ("nope",)
        with pytest.raises(ReadOnlyError, match="DELETE"):
            await remote.sql("DELETE FROM samples")
        with pytest.raises(StoreError, match="column nope"):
            await remote.sql("SELECT nope")
        with pytest.raises(MaintenanceError, match="unknown server"):
            await remote.maintenance_add(
                MaintenanceWindow(0, "server", "zz", "x", T0, starts=T0, ends=T0 + timedelta(1))
            )
        with pytest.raises(KeyError, match="zz"):
            await remote.check_now(["zz"])
        assert len((await remote.check_now(["s1"])).samples) == 5  # the connection survives


async def test_a_bad_frame_argument_is_a_value_error_not_a_dead_connection(served: Any) -> None:
    _, server = served
    async with RemoteSource(server.path) as remote:
        with pytest.raises(ValueError, match="reason is empty"):
            await remote._call("maintenance_add", _invalid_window())
        assert (await remote.info()).version == "test"


def _invalid_window() -> dict[str, Any]:
    """A window's fields as a plain dict, so the client sends what the daemon must refuse."""
    return {
        "id": 0,
        "scope_kind": "server",
        "scope_id": "s1",
        "reason": " ",
        "announced_at": T0,
        "starts": T0,
        "ends": T0 + timedelta(hours=1),
    }


async def test_installer_scope_is_fixed_at_connect(served: Any) -> None:
    _, server = served
    async with RemoteSource(server.path, installer="a") as remote:
        snap = await remote.snapshot()
        assert {r.installer_id for r in snap.rows} == {"a"}
        with pytest.raises(KeyError):
            await remote.server_detail("s0")  # installer b's server
        with pytest.raises(AccessDenied):
            await remote.sql("SELECT 1")
        assert (await remote.info()).installer == "a"
    with pytest.raises(KeyError, match="unknown installer"):
        await RemoteSource.connect(server.path, installer="zz")


async def test_calls_on_one_connection_run_concurrently(served: Any) -> None:
    fleet, server = served
    fleet.gate.clear()
    async with RemoteSource(server.path) as remote:
        slow = asyncio.create_task(remote.history("s1", "cpu", T0))
        fast = await asyncio.wait_for(remote.info(), 5)
        assert fast.version == "test" and not slow.done()
        many = await asyncio.gather(*(remote.check_now([f"s{i}"]) for i in range(40)))
        assert [len(c.samples) for c in many] == [5] * 40
        fleet.gate.set()
        assert len(await slow) == 3


async def test_updates_stream_in_order_and_end_when_the_daemon_stops(served: Any) -> None:
    fleet, server = served
    remote = await RemoteSource.connect(server.path, installer="b")
    got: list[tuple[ServerRow, ...]] = []
    subscribed = asyncio.Event()

    async def consume() -> None:
        stream = remote.updates()
        first = asyncio.ensure_future(anext(stream))
        await _until(lambda: any(v.queues for v in fleet.views))
        subscribed.set()
        got.append(await first)
        async for rows in stream:
            got.append(rows)

    task = asyncio.create_task(consume())
    await subscribed.wait()
    for n in range(3):
        fleet.publish([row(0, "b", "problem"), row(1, "a", "down")])
        fleet.publish([row(2, "b", "down" if n else "up")])
    await _until(lambda: len(got) == 6)
    assert all(r.installer_id == "b" for batch in got for r in batch)
    assert [b[0].server_id for b in got] == ["s0", "s2"] * 3
    await server.close()
    await asyncio.wait_for(task, 5)  # the iterator ends instead of hanging
    with pytest.raises(DaemonUnavailable):
        await remote.info()
    await remote.close()


async def test_a_client_that_stops_reading_never_blocks_the_daemon(served: Any) -> None:
    fleet, server = served
    stuck = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.connect(str(server.path))
    stuck.sendall(frame(Header(t="hello", a={"v": raw(VERSION), "installer": raw(None)})))
    stuck.sendall(frame(Header(t="call", id=1, m="updates")))
    async with RemoteSource(server.path) as healthy:
        stream = healthy.updates()
        first = asyncio.ensure_future(anext(stream))
        await _until(lambda: sum(len(v.queues) for v in fleet.views) == 2)
        big = [dataclasses.replace(row(1, "a"), note="x" * 2000) for _ in range(20)]
        # Not timed (figures belong in bench/): publishing must simply go on while one client
        # reads nothing, and that client's queue stays bounded (below).
        for _ in range(500):
            fleet.publish(big)
            await asyncio.sleep(0)
        assert (await asyncio.wait_for(first, 5))[0].server_id == "s1"
        assert len((await healthy.check_now(["s1"])).samples) == 5
        pending = [len(s.pending) for c in server._connections for s in c.subs.values()]
        assert max(pending) <= 8  # the stuck client's queue stays bounded
        await stream.aclose()
    # The stuck client reads at last: a resync (full snapshot) follows what the socket buffered.
    stuck.setblocking(False)
    frames = await asyncio.wait_for(_read_frames_until_resync(stuck), 10)
    assert frames[-1]["resync"] is True
    stuck.close()
    await _until(lambda: server.clients == 0)


async def _read_frames_until_resync(sock: socket.socket) -> list[dict[str, Any]]:
    import msgspec

    loop = asyncio.get_running_loop()
    buffer = b""
    frames: list[dict[str, Any]] = []
    while True:
        buffer += await loop.sock_recv(sock, 1 << 20)
        while len(buffer) >= 8:
            size, blob = struct.unpack(">II", buffer[:8])
            if len(buffer) < 8 + size + blob:
                break
            header = msgspec.json.decode(buffer[8 : 8 + size])
            buffer = buffer[8 + size + blob :]
            frames.append({"resync": header.get("resync", False), "t": header["t"]})
            if header.get("resync"):
                return frames


async def test_closing_a_client_releases_its_view_and_leaves_others_alone(served: Any) -> None:
    fleet, server = served
    keep = await RemoteSource.connect(server.path)
    for _ in range(5):
        gone = await RemoteSource.connect(server.path, installer="a")
        stream = gone.updates()
        pending = asyncio.ensure_future(anext(stream))
        await _until(lambda: any(v.queues for v in fleet.views if v.installer == "a"))
        await gone.close()
        with pytest.raises((StopAsyncIteration, DaemonUnavailable)):
            await pending
    await _until(lambda: fleet.open_views == 1 and server.clients == 1)
    assert (await keep.snapshot()).counts.servers == 6
    await keep.close()


async def test_socket_is_0660_and_a_live_socket_refuses_a_second_server(short_tmp: Path) -> None:
    fleet = MemoryFleet()
    path = short_tmp / "db.duckdb.sock"
    path.write_text("stale")  # left by a killed daemon: replaced
    first = ApiServer(fleet.view, path)
    await first.start()
    try:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o660
        assert stat.S_ISSOCK(os.stat(path).st_mode)
        with pytest.raises(AlreadyRunning, match="already answers"):
            await ApiServer(fleet.view, path).start()
        assert find_daemon(short_tmp / "db.duckdb") == path
    finally:
        await first.close()
    assert not path.exists()
    assert find_daemon(short_tmp / "db.duckdb") is None


async def test_an_absent_daemon_is_daemon_unavailable(short_tmp: Path) -> None:
    with pytest.raises(DaemonUnavailable, match="no nls daemon"):
        await RemoteSource.connect(short_tmp / "none.sock")


def test_long_database_paths_get_a_short_socket_and_a_pointer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NLS_SOCKET", raising=False)
    runtime = tmp_path / "run"
    runtime.mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    short = tmp_path / "a.duckdb"
    if len(str(short)) < 90:
        assert bind_path(short) == tmp_path / "a.duckdb.sock"
    deep = tmp_path / ("d" * 60) / ("e" * 60) / "fleet.duckdb"
    deep.parent.mkdir(parents=True)
    sock = bind_path(deep)
    assert sock.parent == runtime and sock.name.startswith("nls-") and len(str(sock)) < 107
    assert bind_path(deep) == sock  # stable
    publish_pointer(deep, sock)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))  # a client in another login
    assert candidate_sockets(deep)[0] == sock
    monkeypatch.setenv("NLS_SOCKET", "/tmp/explicit.sock")
    assert bind_path(deep) == Path("/tmp/explicit.sock")


def test_instance_lock_refuses_a_second_owner_and_frees_on_release(tmp_path: Path) -> None:
    db = tmp_path / "x.duckdb"
    first = InstanceLock(db)
    first.acquire()
    with pytest.raises(AlreadyRunning, match=f"process {os.getpid()}"):
        InstanceLock(db).acquire()
    first.release()
    with InstanceLock(db):
        pass


async def _until(predicate: Any, limit: float = 5.0) -> None:
    """Poll a condition the loop itself changes; fails loudly after `limit` s, never hangs."""
    async with asyncio.timeout(limit):
        while not predicate():  # noqa: ASYNC110 - state of other tasks, no event to wait on
            await asyncio.sleep(0.005)
