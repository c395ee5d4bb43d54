"""Build the fleet grid's rows from the store's per-server figures plus config and alert marks.

The figures come from one SQL query (`sql/queries/fleet_rows.sql`) for the whole fleet at start
and for a batch's servers after each batch, so a row always means the same thing however it was
made.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from console.directory import Directory
from console.fleetview import Failing, FleetCounts, ServerRow, Status
from console.monitor.maintenance import MaintenanceWindow


class RowBuilder:
    def __init__(
        self,
        directory: Directory,
        quiet_until: Callable[[str], datetime | None],
        maintenance: Callable[[str, datetime], MaintenanceWindow | None],
        confirmed: Callable[[str], frozenset[tuple[str, str]]],
    ) -> None:
        self._quiet_until = quiet_until
        self._maintenance = maintenance
        self._confirmed = confirmed
        self._names: dict[str, tuple[str, str, str, str, str]] = {}
        self._zones: dict[str, str] = {}
        for s in directory.servers.values():
            c, i = directory.owners(s)
            self._names[s.id] = (s.name or s.id, c.id, c.name, i.id, i.name)
            self._zones[s.id] = directory.timezone(s)

    def build(
        self,
        server: str,
        figures: Mapping[str, Any] | None,
        availability: tuple[float | None, float] | None,
        now: datetime,
    ) -> ServerRow:
        """`availability`: (the 30-day figure, the seconds of known time it rests on)."""
        name, customer_id, customer_name, installer_id, installer_name = self._names[server]
        figures = figures or {}
        failing = tuple(
            Failing(
                f["check"], f["subject"], int(f["consecutive"]), f["detail"], f.get("alerted_at")
            )
            for f in figures.get("failing") or ()
        )
        quiet = self._quiet_until(server)
        quiet = quiet if quiet is not None and quiet > now else None
        window = self._maintenance(server, now)
        return ServerRow(
            server_id=server,
            name=name,
            customer_id=customer_id,
            customer_name=customer_name,
            installer_id=installer_id,
            installer_name=installer_name,
            status=_status(figures, failing, quiet, window, self._confirmed(server)),
            cameras_online=None
            if figures.get("cameras_unknown")
            else figures.get("cameras_online"),
            cameras_total=figures.get("cameras_total"),
            cpu_pct=figures.get("cpu"),
            disk_write_bps=figures.get("disk"),
            last_check=figures.get("last_check"),
            failing=failing,
            availability_30d=availability[0] if availability else None,
            availability_known_s=availability[1] if availability else None,
            quiet_until=quiet,
            note=f"maintenance: {window.reason}" if window else "",
            timezone=self._zones[server],
        )


def _status(
    figures: Mapping[str, Any],
    failing: tuple[Failing, ...],
    quiet: datetime | None,
    window: MaintenanceWindow | None,
    confirmed: frozenset[tuple[str, str]],
) -> Status:
    """Down and problem mean confirmed (the alert threshold reached, as when the installer is
    mailed); a failure below the threshold is pending, visible but not yet a problem."""
    if window is not None:
        return "maintenance"
    if quiet is not None:
        return "quiet"
    online = figures.get("online")
    if online == "fail":
        return "down" if ("server_online", "") in confirmed else "pending"
    if failing:
        confirmed_failing = any((f.check, f.subject) in confirmed for f in failing)
        return "problem" if confirmed_failing else "pending"
    if online is None or online == "unknown":
        return "unknown"
    return "up"


def counts(rows: Iterable[ServerRow]) -> FleetCounts:
    servers = up = problem = down = pending = offline = 0
    for row in rows:
        servers += 1
        if row.status == "up":
            up += 1
        elif row.status == "down":
            down += 1
        elif row.status == "problem":
            problem += 1
        elif row.status == "pending":
            pending += 1
        if row.cameras_total is not None and row.cameras_online is not None:
            offline += row.cameras_total - row.cameras_online
    return FleetCounts(
        servers=servers,
        up=up,
        problem=problem,
        down=down,
        cameras_offline=offline,
        pending=pending,
    )
