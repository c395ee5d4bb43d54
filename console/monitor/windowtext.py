"""A maintenance window as a person types it, and the one function that turns it into a window.

`nls maintenance add` and the console's maintenance form both call `read_window`, so a time
without an offset means the same everywhere: wall-clock time in the scope's zone (the server's
customer's, else its installer's), unless the person names another zone.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from console.directory import SCOPE_KINDS, ScopeKind
from console.errors import MaintenanceError
from console.monitor.maintenance import MaintenanceWindow

TIME_FORMS = "YYYY-MM-DD HH:MM (in the scope's zone) or ISO with an offset, e.g. 2026-03-01T21:00Z"


@dataclass(frozen=True, slots=True)
class WindowText:
    """The fields of a window as typed; empty means "not given"."""

    scope_kind: str
    scope_id: str
    reason: str
    start: str = ""
    end: str = ""
    cron: str = ""
    duration: str = ""
    timezone: str = ""
    announced: str = ""


class ZoneSource(Protocol):
    """What `read_window` needs of a FleetSource: the zone of a scope (NotFound if unknown)."""

    async def scope_zone(self, scope_kind: ScopeKind, scope_id: str) -> str: ...


async def read_window(
    source: ZoneSource, text: WindowText, *, now: datetime, user: str | None = None
) -> MaintenanceWindow:
    """A validated window: the scope must exist (and be visible to `source`), and its zone is
    the default for times without an offset. MaintenanceError names the field at fault."""
    kind = scope_kind(text.scope_kind)
    scope_id = text.scope_id.strip()
    if not scope_id:
        raise MaintenanceError(f"name the {kind} the window covers")
    zone = await source.scope_zone(kind, scope_id)
    return parse_window(text, default_zone=zone, now=now, user=user)


def parse_window(
    text: WindowText, *, default_zone: str, now: datetime, user: str | None = None
) -> MaintenanceWindow:
    """The pure part of `read_window`, once the scope's zone is known."""
    zone_name = text.timezone.strip() or default_zone
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise MaintenanceError(
            f"time zone {zone_name!r} is unknown; use an IANA name such as Europe/Brussels"
        ) from None
    cron = text.cron.strip() or None
    duration = _minutes(text.duration)
    if cron is None and duration is not None:
        raise MaintenanceError("a duration goes with a cron; a one-off window takes an end")
    return MaintenanceWindow(
        id=0,
        scope_kind=scope_kind(text.scope_kind),
        scope_id=text.scope_id.strip(),
        reason=text.reason.strip(),
        announced_at=_time(text.announced, zone, "announced") or now,
        created_by=current_user() if user is None else user,
        starts=_time(text.start, zone, "start"),
        ends=_time(text.end, zone, "end"),
        cron=cron,
        timezone=zone_name if cron else None,
        duration_min=duration,
    )


def scope_kind(text: str) -> ScopeKind:
    for kind in SCOPE_KINDS:
        if text == kind:
            return kind
    raise MaintenanceError(f"scope {text!r} is not one of {', '.join(SCOPE_KINDS)}")


def current_user() -> str:
    """Who announces the window, for the record (empty when the system cannot say)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def _time(text: str, zone: ZoneInfo, field: str) -> datetime | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise MaintenanceError(f"{field} {text!r} is not a time; write {TIME_FORMS}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


def _minutes(text: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise MaintenanceError(f"duration {text!r} is not a whole number of minutes") from None
