"""How the desk's times read for people, the same in `nls incident` and the console."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from console.desk.records import Incident, IncidentEvent, TimerRow, iso

STATE_LABELS = {
    "running": "running",
    "paused": "paused",
    "met": "met",
    "breached": "BREACHED",
    "at_risk": "at risk",
    "urgent": "URGENT",
}


def duration(seconds: float) -> str:
    """Compact and signed: "45s", "12m", "3h 05m", "2d 4h", "-20m" (overdue)."""
    sign = "-" if seconds < 0 else ""
    total = int(abs(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        text = f"{days}d {hours}h"
    elif hours:
        text = f"{hours}h {minutes:02d}m"
    elif minutes:
        text = f"{minutes}m"
    else:
        text = f"{secs}s"
    return sign + text


def countdown(timer: TimerRow | None, now: datetime) -> str:
    """Real time until a timer's due instant (what a countdown shows), or its verdict."""
    if timer is None:
        return ""
    if timer.stopped is not None:
        return timer.state
    return duration((timer.due - now).total_seconds())


def live_state(timer: TimerRow | None, now: datetime) -> str:
    """running, paused, at_risk, urgent, breached or met at `now` (a screen's colour)."""
    if timer is None:
        return ""
    state, warning = timer.state_at(now)
    return warning if state == "running" and warning != "none" else state


def incident_dict(incident: Incident) -> dict[str, Any]:
    return {
        "id": incident.id,
        "title": incident.title,
        "type": incident.type,
        "priority": incident.priority,
        "opening_priority": incident.opening_priority,
        "status": incident.status,
        "server": incident.server,
        "customer": incident.customer,
        "installer": incident.installer,
        "policy": incident.policy,
        "opened_at": iso(incident.opened_at),
        "recorded_at": iso(incident.recorded_at),
        "opened_by": incident.opened_by,
        "source": incident.source,
    }


def event_dict(event: IncidentEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "at": iso(event.at),
        "recorded_at": iso(event.recorded_at),
        "author": event.author,
        "kind": event.kind,
        "text": event.text,
    }


def short_time(value: datetime | None, zone: Any = None) -> str:
    """A time in `zone` (default: this machine's) with its offset: 2026-03-02 14:30+01:00."""
    if value is None:
        return ""
    local = value.astimezone(zone) if zone is not None else value.astimezone()
    return local.isoformat(timespec="minutes").replace("T", " ")
