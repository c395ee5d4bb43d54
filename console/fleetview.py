"""The narrow data interface between the engine and every view (TUI, exports, daemon API).

Screens only see these types and the `FleetSource` protocol, so an embedded engine and a daemon
reached over a unix socket are two transports behind one console.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

Status = Literal["up", "problem", "down", "quiet", "maintenance", "unknown"]


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


class FleetSource(Protocol):
    """What a console may ask of an engine, embedded or attached."""

    mode: Literal["embedded", "attached"]

    async def snapshot(self) -> FleetSnapshot: ...

    def updates(self) -> AsyncIterator[tuple[ServerRow, ...]]:
        """Rows that changed, one batch per stored probe batch."""
        ...

    async def server_detail(self, server_id: str) -> ServerDetail: ...

    async def history(
        self, server_id: str, check: str, since: datetime
    ) -> list[tuple[datetime, float | None]]: ...

    async def sql(self, query: str) -> Any:
        """Run read-only SQL; returns a pyarrow.Table."""
        ...
