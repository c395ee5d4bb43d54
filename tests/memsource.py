"""An in-memory FleetSource: deterministic data for snapshots, the 10,000-server tests and the
console benchmark, where a real engine would add probe timing noise to what is measured. Test
support, so it lives here and not in the shipped `console` package.

It honours the protocol's scope rules (other installers do not exist, SQL is refused) so the
console cannot tell it from an engine. SQL runs in DuckDB over an Arrow table of the rows.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from console.desk.records import (
    Incident,
    IncidentDetail,
    IncidentEvent,
    IncidentQuery,
    IncidentRow,
    IncidentStats,
)
from console.directory import ScopeKind
from console.errors import NotFound, UsageError
from console.fleetview import (
    AccessDenied,
    CameraRow,
    CheckResult,
    Failing,
    FleetSnapshot,
    MailMessage,
    MailRow,
    SampleRow,
    ServerDetail,
    ServerRow,
    SourceInfo,
)
from console.monitor.fleetrows import counts
from console.monitor.maintenance import MaintenanceWindow
from console.monitor.sample import Sample
from console.sla.lifecycle import status_after
from console.sla.timers import Event
from console.units import format_rate

_CLOSED = object()
CYCLE = timedelta(minutes=15)
ONLINE = "online; Eocortex 24.1.3 answered in 42 ms"
RIGHTS_OK = "the nls user cannot view live or recorded video"
RIGHTS_UNKNOWN = "not checked: Eocortex did not answer"


def camera_ids(server_id: str, count: int) -> list[tuple[str, str]]:
    """(id, name) of a server's cameras: Eocortex ids are GUIDs, names are what people read."""
    return [
        (str(uuid.uuid5(uuid.NAMESPACE_URL, f"{server_id}/{n}")), f"Camera {n + 1:02d}")
        for n in range(count)
    ]


def camera_failing(server_id: str, camera: int, consecutive: int) -> Failing:
    """A camera's failure as the engine reports it (subject: the camera's id)."""
    camera_id, name = camera_ids(server_id, camera + 1)[camera]
    return Failing("camera", camera_id, consecutive, f"{name}: camera offline (Disconnected)")


class MemorySource:
    """A FleetSource over a dict of rows; `push()` publishes a batch of changed rows."""

    def __init__(
        self,
        rows: Iterable[ServerRow],
        *,
        mode: Literal["embedded", "attached"] = "embedded",
        installer: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        interval_s: float = 900.0,
        next_cycle: datetime | None = None,
        mails: Sequence[MailRow | MailMessage] = (),
        windows: Sequence[MaintenanceWindow] = (),
        mail_enabled: bool = True,
        zones: dict[str, str] | None = None,
        incidents: Sequence[IncidentDetail] = (),
    ) -> None:
        self.mode = mode
        self._incidents = {d.incident.id: d for d in incidents}
        self.author = "memory-user"
        self.zones = zones or {}
        self._installer = installer
        self._clock = clock
        self._windows = list(windows)
        self._given = {r.server_id: r for r in rows if self._visible(r)}
        self._rows = {sid: self._engine_row(r) for sid, r in self._given.items()}
        self._interval = interval_s
        self._next_cycle = next_cycle
        self._mails = [
            m if isinstance(m, MailMessage) else MailMessage(m, f"{m.subject}\n", "") for m in mails
        ]
        self._mail_enabled = mail_enabled
        self._queues: list[asyncio.Queue[Any]] = []
        self._started = clock()
        self.checks_requested: list[tuple[str, ...] | None] = []
        self.downtime: dict[str, float] = {}
        self.reports_requested: list[tuple[str, str, str]] = []

    def _visible(self, row: ServerRow) -> bool:
        return self._installer is None or row.installer_id == self._installer

    def _engine_row(self, row: ServerRow) -> ServerRow:
        """The row as the engine would show it: an active maintenance window of its server,
        customer or installer turns it to maintenance, with the window's reason as its note."""
        now = self._clock()
        scopes = {
            ("server", row.server_id),
            ("customer", row.customer_id),
            ("installer", row.installer_id),
        }
        for window in self._windows:
            active = window.removed_at is None and window.occurrence_at(now) is not None
            if active and (window.scope_kind, window.scope_id) in scopes:
                return dataclasses.replace(
                    row, status="maintenance", note=f"maintenance: {window.reason}"
                )
        return row

    async def info(self) -> SourceInfo:
        return SourceInfo(
            mode=self.mode,
            version="memory",
            database=":memory:",
            interval_s=self._interval,
            next_cycle=self._next_cycle,
            installer=self._installer,
            started=self._started,
            mail_enabled=self._mail_enabled,
        )

    async def snapshot(self) -> FleetSnapshot:
        rows = tuple(self._rows.values())
        return FleetSnapshot(
            rows=rows,
            counts=counts(rows),
            next_cycle=self._next_cycle,
            mode=self.mode,
            installer=self._installer,
        )

    async def updates(self) -> AsyncIterator[tuple[ServerRow, ...]]:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        self._queues.append(queue)
        try:
            while (item := await queue.get()) is not _CLOSED:
                yield item
        finally:
            self._queues.remove(queue)

    def push(self, rows: Iterable[ServerRow], next_cycle: datetime | None = None) -> None:
        """Store changed rows and hand them to every listener, as a stored batch would."""
        given = [r for r in rows if self._visible(r)]
        self._given.update((r.server_id, r) for r in given)
        batch = tuple(self._engine_row(r) for r in given)
        for row in batch:
            self._rows[row.server_id] = row
        if next_cycle is not None:
            self._next_cycle = next_cycle
        for queue in self._queues:
            queue.put_nowait(batch)

    def row(self, server_id: str) -> ServerRow:
        return self._rows[server_id]

    async def server_detail(self, server_id: str) -> ServerDetail:
        """What the engine stores for a server in this row's state: a server that does not
        answer has its cameras, CPU and disk `unknown`; failing items are those of the row."""
        row = self._rows[server_id]
        now = row.last_check or self._clock()
        failing = {(f.check, f.subject): f for f in row.failing}
        reachable = row.cameras_online is not None
        down = failing.get(("server_online", ""))
        down_since = now - timedelta(minutes=15 * ((down.consecutive if down else 1) - 1))
        cameras = []
        latest = []
        for n, (camera_id, name) in enumerate(camera_ids(server_id, row.cameras_total or 0)):
            fail = failing.get(("camera", camera_id))
            if fail is not None:
                state, detail = "fail", fail.detail
                since = now - timedelta(minutes=15 * (fail.consecutive - 1))
            elif not reachable:
                state, detail = "unknown", f"{name}: not checked (server down)"
                since = down_since
            else:
                state, detail = "ok", f"{name}: online, recording"
                since = now - timedelta(days=6, minutes=15 * n)
            cameras.append(CameraRow(camera_id, name, state, since, detail))
            value = None if state == "unknown" else float(state == "ok")
            latest.append(SampleRow(now, "camera", camera_id, state, value, detail))
        cameras.sort(key=lambda c: (c.state != "fail", c.name))
        online = failing.get(("server_online", ""))
        if row.last_check is None:
            server = []
        elif online is not None:
            server = [SampleRow(now, "server_online", "", "fail", 0.0, online.detail)]
        else:
            server = [SampleRow(now, "server_online", "", "ok", 1.0, ONLINE)]
        server += self._host_samples(row, now, failing)
        return ServerDetail(
            row=row,
            facts={
                "address": f"{server_id}.lan",
                "platform": "windows",
                "delivered": "2025-01-06",
                "eocortex_api": f"http://{server_id}.lan:8080",
                "customer": f"{row.customer_name} ({row.customer_id})",
                "installer": f"{row.installer_name} ({row.installer_id})",
                "quiet_until": row.quiet_until.isoformat() if row.quiet_until else None,
                "maintenance": row.note or None,
            },
            cameras=tuple(cameras),
            latest=tuple(server + latest)[:100],
            availability={}
            if row.availability_30d is None
            else {
                "server_online": row.availability_30d,
                "camera": max(0.0, row.availability_30d - 0.004),
                "cpu": 1.0,
                "disk_activity": 0.9991,
                "video_rights": 1.0,
            },
        )

    @staticmethod
    def _host_samples(
        row: ServerRow, now: datetime, failing: dict[tuple[str, str], Failing]
    ) -> list[SampleRow]:
        if row.last_check is None:
            return []
        if row.cpu_pct is None or row.disk_write_bps is None:
            why = "not checked: host metrics unavailable (connection refused)"
            return [
                SampleRow(now, "cpu", "", "unknown", None, why),
                SampleRow(now, "disk_activity", "", "unknown", None, why),
                SampleRow(now, "video_rights", "", "unknown", None, RIGHTS_UNKNOWN),
            ]
        cpu = failing.get(("cpu", ""))
        disk = failing.get(("disk_activity", ""))
        rate = format_rate(row.disk_write_bps)
        return [
            SampleRow(
                now,
                "cpu",
                "",
                "fail" if cpu else "ok",
                row.cpu_pct,
                cpu.detail if cpu else f"CPU at {row.cpu_pct:.1f}% over 5 s",
            ),
            SampleRow(
                now,
                "disk_activity",
                "",
                "fail" if disk else "ok",
                row.disk_write_bps,
                disk.detail if disk else f"disk writing {rate} over 5 s",
            ),
            SampleRow(now, "video_rights", "", "ok", None, RIGHTS_OK),
        ]

    async def history(
        self, server_id: str, check: str, since: datetime
    ) -> list[tuple[datetime, float | None]]:
        """One point per 15-minute cycle, as stored: a daily rhythm around the row's current
        value (CPU in %, disk in bytes per second). A server that stopped answering has no
        points since its first failed check; one never probed has none at all."""
        row = self._rows[server_id]
        if row.last_check is None:
            return []
        current = row.cpu_pct if check == "cpu" else row.disk_write_bps
        seed = sum(map(ord, server_id + check))
        if current is None:
            current = 30.0 + seed % 20 if check == "cpu" else 2e6 + (seed % 20) * 1e5
        down = next((f for f in row.failing if f.check == "server_online"), None)
        end = row.last_check - (down.consecutive * CYCLE if down is not None else timedelta())
        points = []
        ts = row.last_check - ((row.last_check - since) // CYCLE) * CYCLE
        while ts <= end:
            hour = (ts.hour + ts.minute / 60 + seed % 24) % 24
            day = 0.75 + 0.25 * math.sin(2 * math.pi * hour / 24)
            week = 0.9 + 0.1 * math.cos(2 * math.pi * ts.weekday() / 7)
            points.append((ts, round(current * day * week, 2)))
            ts += CYCLE
        return points

    async def sql(self, query: str) -> Any:
        if self._installer is not None:
            raise AccessDenied("SQL is not available in an installer-scoped console")
        return await asyncio.to_thread(self._sql, query)

    def _sql(self, query: str) -> Any:
        import duckdb
        import pyarrow as pa

        servers = pa.Table.from_pylist(
            [
                {
                    k: v
                    for k, v in dataclasses.asdict(r).items()
                    if k not in ("failing", "quiet_until", "incident")
                }
                for r in self._rows.values()
            ]
        )
        con = duckdb.connect(":memory:")
        try:
            con.register("servers", servers)
            return con.sql(query).to_arrow_table()
        finally:
            con.close()

    async def check_now(self, server_ids: Sequence[str] | None = None) -> CheckResult:
        self.checks_requested.append(tuple(server_ids) if server_ids is not None else None)
        rows = tuple(self._rows[s] for s in server_ids or self._rows)
        now = self._clock()
        samples = tuple(
            Sample(now, r.server_id, "server_online", "", "ok" if r.status == "up" else "fail")
            for r in rows
        )
        return CheckResult(samples, rows)

    async def scope_zone(self, scope_kind: ScopeKind, scope_id: str) -> str:
        """`zones[scope_id]` when given; else, as the engine's directory: a server's and a
        customer's zone is the customer's (the rows' `timezone`), an installer's Brussels."""
        attr = {"server": "server_id", "customer": "customer_id", "installer": "installer_id"}
        rows = [r for r in self._rows.values() if getattr(r, attr[scope_kind]) == scope_id]
        if not rows:
            raise NotFound(f"no {scope_kind} {scope_id!r}")
        if scope_id in self.zones:
            return self.zones[scope_id]
        return rows[0].timezone if scope_kind != "installer" else "Europe/Brussels"

    async def maintenance_list(self) -> list[MaintenanceWindow]:
        return [w for w in self._windows if w.removed_at is None]

    async def maintenance_add(self, window: MaintenanceWindow) -> MaintenanceWindow:
        stored = dataclasses.replace(window, id=max((w.id for w in self._windows), default=0) + 1)
        self._windows.append(stored)
        self._windows_changed()
        return stored

    async def maintenance_remove(self, window_id: int) -> None:
        for i, window in enumerate(self._windows):
            if window.id == window_id:
                self._windows[i] = dataclasses.replace(window, removed_at=self._clock())
                self._windows_changed()
                return
        raise KeyError(window_id)

    async def report(
        self,
        kind: str,
        month: str,
        by: str = "server",
        installer_id: str | None = None,
        customer_id: str | None = None,
    ) -> Any:
        """Availability rows from each visible server's `downtime` (minutes, self.downtime) in
        a 44,640-minute month, grouped like the real report (figures the tests can check)."""
        import pyarrow as pa

        self.reports_requested.append((kind, month, by))
        groups: dict[str, list[ServerRow]] = {}
        for row in self._rows.values():
            key = {"server": row.server_id, "customer": row.customer_id}.get(by, row.installer_id)
            groups.setdefault(key, []).append(row)
        out = []
        for key, rows in sorted(groups.items()):
            period = 44640.0 * len(rows)
            down = float(sum(self.downtime.get(r.server_id, 0) for r in rows))
            pct = round(100 * (period - down) / period, 4)
            out.append(
                {
                    by: key,
                    "period_minutes": period,
                    "downtime_minutes": down,
                    "confirmed_downtime_minutes": down,
                    "excluded_minutes": 0.0,
                    "unknown_minutes": 0.0,
                    "availability_pct": pct,
                    "target_pct": 99.9,
                    "met": pct >= 99.9,
                    "outages": int(down > 0),
                    "longest_outage_minutes": down,
                    "resolution_minutes": 15.0,
                }
            )
        return pa.Table.from_pylist(out)

    async def outage_list(self, include_revoked: bool = False) -> list[Any]:
        return []

    async def outage_exclude(self, server_id: str, starts: Any, ends: Any, reason: str) -> Any:
        raise AccessDenied("the memory source keeps no exclusions")

    async def outage_revoke(self, exclusion_id: int) -> Any:
        raise AccessDenied("the memory source keeps no exclusions")

    async def credit_claim(
        self, customer_id: str, month: str, failure: str, claimed_at: Any = None
    ) -> Any:
        raise AccessDenied("the memory source keeps no claims")

    async def import_samples(self, samples: list[Any], commit: bool) -> Any:
        raise AccessDenied("the memory source imports nothing")

    def _windows_changed(self) -> None:
        """Publish the rows a window change turned to or from maintenance, as the engine does."""
        rows = self._rows
        changed = [r for r in self._given.values() if self._engine_row(r) != rows[r.server_id]]
        if changed:
            self.push(changed)

    def _mail_visible(self, mail: MailMessage) -> bool:
        return self._installer is None or mail.row.installer == self._installer

    async def outbox(self, limit: int = 100) -> list[MailRow]:
        mails = [m.row for m in self._mails if self._mail_visible(m)]
        return sorted(mails, key=lambda m: (-m.created.timestamp(), m.key))[:limit]

    async def mail(self, key: str) -> MailMessage:
        for mail in self._mails:
            if mail.row.key == key and self._mail_visible(mail):
                return mail
        raise KeyError(f"no mail {key!r}")

    # -- the incident desk: the given details, kept as they are (timers are not recomputed) --

    def _incident_visible(self, incident: Incident) -> bool:
        return self._installer is None or incident.installer == self._installer

    async def incident_open(
        self,
        customer: str,
        priority: str,
        server: str | None = None,
        incident_type: str = "problem",
        title: str = "",
        at: datetime | None = None,
    ) -> Incident:
        rows = [r for r in self._rows.values() if r.customer_id == customer]
        if not rows:
            raise NotFound(f"no customer {customer!r}")
        now = self._clock()
        incident = Incident(
            max(self._incidents, default=0) + 1, title or f"{incident_type} from {customer}",
            incident_type, priority, priority, "open", server, customer, rows[0].installer_id,
            "memory", at or now, now, self.author, "manual",
        )  # fmt: skip
        self._incidents[incident.id] = IncidentDetail(incident, (), (), now)
        return incident

    async def incident_event(
        self, incident_id: int, kind: str, text: str = "", at: datetime | None = None
    ) -> IncidentEvent:
        detail = await self.incident_show(incident_id)
        if kind == "note" and not text.strip():
            raise UsageError("an empty note: give its text with --text")
        now = self._clock()
        event = IncidentEvent(
            incident_id, len(detail.events) + 1, at or now, now, self.author, kind, text
        )
        events = (*detail.events, event)
        history = [Event(e.at, e.kind, e.author, e.text) for e in events]
        incident = dataclasses.replace(detail.incident, status=status_after(history))
        self._incidents[incident_id] = dataclasses.replace(detail, incident=incident, events=events)
        return event

    async def incident_show(self, incident_id: int, now: datetime | None = None) -> IncidentDetail:
        detail = self._incidents.get(incident_id)
        if detail is None or not self._incident_visible(detail.incident):
            raise NotFound(f"no incident {incident_id}; see `nls incident list`")
        return dataclasses.replace(detail, now=now or self._clock())

    async def incidents(
        self, where: IncidentQuery | None = None, now: datetime | None = None
    ) -> list[IncidentRow]:
        q = where or IncidentQuery()
        rows = []
        for detail in self._incidents.values():
            i = detail.incident
            if not self._incident_visible(i) or (q.open_only and not i.is_open):
                continue
            if any(
                want is not None and have != want
                for have, want in (
                    (i.installer, q.installer),
                    (i.customer, q.customer),
                    (i.server, q.server),
                    (i.priority, q.priority),
                    (i.status, q.status),
                )
            ):
                continue
            timers = [t for t in detail.timers if t.open]
            first = min(timers, key=lambda t: t.due, default=None)
            breached = sum(1 for t in timers if t.state == "breached")
            if q.breaching and not any(
                t.state == "breached" or t.warning != "none" for t in timers
            ):
                continue
            last = max((e.at for e in detail.events), default=None)
            rows.append(IncidentRow(i, first, breached, len(detail.events), last))
        rows.sort(key=lambda r: (r.timer is None, r.timer.due if r.timer else r.incident.opened_at))
        return rows

    async def incident_stats(self, month: str) -> list[IncidentStats]:
        return []

    async def close(self) -> None:
        for queue in self._queues:
            queue.put_nowait(_CLOSED)
