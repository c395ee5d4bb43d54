"""An in-memory FleetSource: deterministic data for snapshots, the 10,000-server tests and the
console benchmark, where a real engine would add probe timing noise to what is measured. Test
support, so it lives here and not in the shipped `console` package.

It honours the protocol's scope rules (other installers do not exist, SQL is refused) so the
console cannot tell it from an engine. SQL runs in DuckDB over an Arrow table of the rows.
"""

from __future__ import annotations

import asyncio
import dataclasses
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
    FleetSnapshot,
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

_CLOSED = object()


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
        mails: Sequence[MailRow] = (),
        windows: Sequence[MaintenanceWindow] = (),
        zones: dict[str, str] | None = None,
        incidents: Sequence[IncidentDetail] = (),
    ) -> None:
        self.mode = mode
        self._incidents = {d.incident.id: d for d in incidents}
        self.author = "memory-user"
        self.zones = zones or {}
        self._installer = installer
        self._rows = {r.server_id: r for r in rows if self._visible(r)}
        self._clock = clock
        self._interval = interval_s
        self._next_cycle = next_cycle
        self._mails = list(mails)
        self._windows = list(windows)
        self._queues: list[asyncio.Queue[Any]] = []
        self._started = clock()
        self.checks_requested: list[tuple[str, ...] | None] = []

    def _visible(self, row: ServerRow) -> bool:
        return self._installer is None or row.installer_id == self._installer

    async def info(self) -> SourceInfo:
        return SourceInfo(
            mode=self.mode,
            version="memory",
            database=":memory:",
            interval_s=self._interval,
            next_cycle=self._next_cycle,
            installer=self._installer,
            started=self._started,
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
        batch = tuple(r for r in rows if self._visible(r))
        for row in batch:
            self._rows[row.server_id] = row
        if next_cycle is not None:
            self._next_cycle = next_cycle
        for queue in self._queues:
            queue.put_nowait(batch)

    def row(self, server_id: str) -> ServerRow:
        return self._rows[server_id]

    async def server_detail(self, server_id: str) -> ServerDetail:
        row = self._rows[server_id]
        now = row.last_check or self._clock()
        failing = {(f.check, f.subject): f for f in row.failing}
        total = row.cameras_total or 0
        cameras = []
        for n in range(total):
            subject = f"cam{n + 1}"
            fail = failing.get(("camera", subject))
            cameras.append(
                CameraRow(
                    camera_id=f"{server_id}-{subject}",
                    name=f"Camera {n + 1:02d}",
                    state="fail" if fail else "ok",
                    since=now - timedelta(minutes=15 * (fail.consecutive if fail else 96 + n)),
                    detail=fail.detail if fail else "recording",
                )
            )
        latest = [
            SampleRow(now, "server_online", "", "fail" if row.status == "down" else "ok", None, ""),
            SampleRow(now, "cpu", "", "ok", row.cpu_pct, f"{row.cpu_pct or 0:.0f}% busy"),
            SampleRow(now, "disk_activity", "", "ok", row.disk_write_bps, "archive writing"),
        ]
        latest += [SampleRow(now, f.check, f.subject, "fail", None, f.detail) for f in row.failing]
        return ServerDetail(
            row=row,
            facts={
                "address": f"{server_id}.lan",
                "platform": "windows",
                "eocortex": "24.1.3",
                "customer": row.customer_name,
                "installer": row.installer_name,
                "delivered": "2025-01-06",
            },
            cameras=tuple(cameras),
            latest=tuple(latest),
            availability={
                "server_online": row.availability_30d,
                "camera": None if row.availability_30d is None else row.availability_30d - 0.004,
                "cpu": 1.0,
                "disk_activity": 0.9991,
            },
        )

    async def history(
        self, server_id: str, check: str, since: datetime
    ) -> list[tuple[datetime, float | None]]:
        row = self._rows[server_id]
        end = row.last_check or self._clock()
        span = end - since
        points = 96
        step = span / points
        seed = sum(map(ord, server_id + check))
        base = row.cpu_pct if check == "cpu" else (row.disk_write_bps or 0) / 1e6
        base = base or 10.0
        return [
            (since + step * i, round(base * (0.6 + 0.4 * (((seed + i * 7) % 13) / 12)), 2))
            for i in range(points)
        ]

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
        """Europe/Brussels for every scope in view (or `zones[scope_id]` when given)."""
        known = {
            "server": {r.server_id for r in self._rows.values()},
            "customer": {r.customer_id for r in self._rows.values()},
            "installer": {r.installer_id for r in self._rows.values()},
        }[scope_kind]
        if scope_id not in known:
            raise NotFound(f"no {scope_kind} {scope_id!r}")
        return self.zones.get(scope_id, "Europe/Brussels")

    async def maintenance_list(self) -> list[MaintenanceWindow]:
        return [w for w in self._windows if w.removed_at is None]

    async def maintenance_add(self, window: MaintenanceWindow) -> MaintenanceWindow:
        stored = dataclasses.replace(window, id=max((w.id for w in self._windows), default=0) + 1)
        self._windows.append(stored)
        return stored

    async def maintenance_remove(self, window_id: int) -> None:
        for i, window in enumerate(self._windows):
            if window.id == window_id:
                self._windows[i] = dataclasses.replace(window, removed_at=self._clock())
                return
        raise KeyError(window_id)

    async def outbox(self, limit: int = 100) -> list[MailRow]:
        return self._mails[:limit]

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
