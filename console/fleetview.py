"""The narrow data interface between the engine and every view (TUI, exports, daemon API).

Screens only see these types and the `FleetSource` protocol, so an embedded engine and a daemon
reached over a unix socket are two transports behind one console.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from console.monitor.maintenance import MaintenanceWindow

Status = Literal["up", "pending", "problem", "down", "quiet", "maintenance", "unknown"]


@dataclass(frozen=True, slots=True)
class Failing:
    """One failing check on a server and for how many consecutive checks it has failed."""

    check: str
    subject: str
    consecutive: int
    detail: str


@dataclass(frozen=True, slots=True)
class ServerRow:
    """One line of the fleet grid; immutable so views can diff rows by identity and equality."""

    server_id: str
    name: str
    customer_id: str
    customer_name: str
    installer_id: str
    installer_name: str
    status: Status
    cameras_online: int | None = None
    cameras_total: int | None = None
    cpu_pct: float | None = None
    disk_write_bps: float | None = None
    last_check: datetime | None = None
    failing: tuple[Failing, ...] = ()
    availability_30d: float | None = None
    quiet_until: datetime | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class FleetCounts:
    servers: int = 0
    up: int = 0
    problem: int = 0
    down: int = 0
    cameras_offline: int = 0
    pending: int = 0


@dataclass(frozen=True, slots=True)
class FleetSnapshot:
    rows: tuple[ServerRow, ...]
    counts: FleetCounts
    next_cycle: datetime | None
    mode: Literal["embedded", "attached"]
    installer: str | None = None


@dataclass(frozen=True, slots=True)
class CameraRow:
    camera_id: str
    name: str
    state: str
    since: datetime | None
    detail: str


@dataclass(frozen=True, slots=True)
class SampleRow:
    ts: datetime
    check: str
    subject: str
    state: str
    value: float | None
    detail: str


@dataclass(frozen=True, slots=True)
class ServerDetail:
    row: ServerRow
    facts: dict[str, Any]
    cameras: tuple[CameraRow, ...]
    latest: tuple[SampleRow, ...]
    availability: dict[str, float | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SourceInfo:
    mode: Literal["embedded", "attached"]
    version: str
    database: str
    interval_s: float
    next_cycle: datetime | None
    installer: str | None
    started: datetime
    health: str = ""
    """The monitor's self-health alarm (empty when all is well): shown in the header."""
    lag_s: float | None = None
    """How late the last slot's probes started after it was due."""


@dataclass(frozen=True, slots=True)
class MailRow:
    """One outbox entry as the console lists it (never the body: it may be long)."""

    key: str
    created: datetime
    kind: str
    server: str | None
    installer: str | None
    recipients: tuple[str, ...]
    subject: str
    status: str
    attempts: int
    last_error: str | None
    sent_at: datetime | None


class AccessDenied(Exception):
    """The caller's scope does not allow this (e.g. SQL in an installer-scoped console)."""


class FleetSource(Protocol):
    """What a console may ask of an engine, embedded or attached over the daemon's socket.

    An installer-scoped source behaves as if other installers' servers did not exist: snapshot,
    updates, detail and history never show them, and `sql` raises AccessDenied.
    """

    mode: Literal["embedded", "attached"]

    async def info(self) -> SourceInfo: ...

    async def snapshot(self) -> FleetSnapshot: ...

    def updates(self) -> AsyncIterator[tuple[ServerRow, ...]]:
        """Rows that changed, one tuple per stored probe batch; ends when the source closes."""
        ...

    async def server_detail(self, server_id: str) -> ServerDetail:
        """Raises KeyError for a server outside the scope."""
        ...

    async def history(
        self, server_id: str, check: str, since: datetime
    ) -> list[tuple[datetime, float | None]]:
        """(ts, value) of one server-level check (cpu, disk_activity, ...) since `since`."""
        ...

    async def sql(self, query: str) -> Any:
        """Run read-only SQL; returns a pyarrow.Table. ReadOnlyError/StoreError on bad SQL."""
        ...

    async def check_now(self, server_ids: Sequence[str] | None = None) -> int:
        """Probe now, outside the schedule; returns the number of samples stored."""
        ...

    async def maintenance_list(self) -> list[MaintenanceWindow]: ...

    async def maintenance_add(self, window: MaintenanceWindow) -> MaintenanceWindow:
        """Store a window (its id is assigned here) and return it."""
        ...

    async def maintenance_remove(self, window_id: int) -> None: ...

    async def outbox(self, limit: int = 100) -> list[MailRow]: ...

    async def close(self) -> None: ...
