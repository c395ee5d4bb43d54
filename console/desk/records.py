"""The incident desk as screens and commands see it: plain immutable records, the same embedded
and over the daemon's socket (the wire encodes them from the `FleetSource` annotations).

No store, no clock, no policy here: the desk (`console.desk.desk`) fills these in, and a
console only formats them. A `TimerRow` carries the instants at which a running timer turns at
risk, urgent and breached, so a screen can colour a live countdown every second without
recomputing business time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

INCIDENT_SOURCES = ("monitoring", "manual")
OPEN_STATUSES = ("open", "waiting")
MONITORING_AUTHOR = "monitoring"
"""The author of what the monitoring pipeline writes (it is no person's request)."""


@dataclass(frozen=True, slots=True)
class Incident:
    """One row of the `incidents` table."""

    id: int
    title: str
    type: str  # outage | problem | question | wish | rma
    priority: str  # the current priority
    opening_priority: str  # the one it was opened with (the timers start from it)
    status: str  # open | waiting | resolved | closed
    server: str | None
    customer: str
    installer: str
    policy: str
    opened_at: datetime
    recorded_at: datetime
    opened_by: str
    source: str  # monitoring | manual

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


@dataclass(frozen=True, slots=True)
class IncidentEvent:
    """One entry of an incident's append-only history."""

    incident: int
    seq: int
    at: datetime
    recorded_at: datetime
    author: str
    kind: str
    text: str


@dataclass(frozen=True, slots=True)
class TimerRow:
    """One timer of an incident evaluated at `IncidentDetail.now` (or the list's now).

    `remaining_s` is counted time left then (negative once overdue). For a running timer,
    `at_risk_at` and `urgent_at` are the instants it turns at risk and urgent if nothing else
    happens (None once passed or for a stopped or paused timer), so `state_at(now)` is exact for
    any later now without a calendar."""

    kind: str
    cycle: int
    priority: str
    state: str  # running | paused | met | breached
    warning: str  # none | at_risk | urgent
    target: str
    anchor: datetime
    due: datetime
    stopped: datetime | None
    remaining_s: float
    at_risk_at: datetime | None = None
    urgent_at: datetime | None = None
    escalations: tuple[str, ...] = ()

    @property
    def open(self) -> bool:
        return self.stopped is None

    def state_at(self, now: datetime) -> tuple[str, str]:
        """(state, warning) at a later `now`, for live countdowns; a paused timer stays paused
        until an event resumes it (the next refresh brings that)."""
        if self.state != "running":
            return self.state, self.warning
        if now > self.due:
            return "breached", "none"
        if self.warning == "urgent" or (self.urgent_at is not None and now >= self.urgent_at):
            return "running", "urgent"
        if self.warning == "at_risk" or (self.at_risk_at is not None and now >= self.at_risk_at):
            return "running", "at_risk"
        return "running", "none"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (`nls incident show --json`): instants ISO 8601 UTC, durations seconds."""
        return {
            "kind": self.kind,
            "cycle": self.cycle,
            "priority": self.priority,
            "state": self.state,
            "warning": self.warning,
            "target": self.target,
            "anchor": iso(self.anchor),
            "due": iso(self.due),
            "stopped": iso(self.stopped) if self.stopped else None,
            "remaining": round(self.remaining_s, 3),
            "escalations": list(self.escalations),
        }


@dataclass(frozen=True, slots=True)
class IncidentDetail:
    """An incident, its whole history and its timers at `now`."""

    incident: Incident
    events: tuple[IncidentEvent, ...]
    timers: tuple[TimerRow, ...]
    now: datetime


@dataclass(frozen=True, slots=True)
class IncidentRow:
    """One line of the incidents list: the incident and its most urgent open timer."""

    incident: Incident
    timer: TimerRow | None  # the open timer due first (breached ones first of all)
    breached: int = 0  # open timers past due
    events: int = 0
    last_event: datetime | None = None


@dataclass(frozen=True, slots=True)
class IncidentQuery:
    """Which incidents to list; every field that is set must match."""

    installer: str | None = None
    customer: str | None = None
    server: str | None = None
    priority: str | None = None
    status: str | None = None  # open | waiting | resolved | closed
    open_only: bool = False  # open or waiting
    breaching: bool = False  # an open timer breached, urgent or at risk


@dataclass(frozen=True, slots=True)
class IncidentStats:
    """`nls incident stats`: one customer's month."""

    customer: str
    customer_name: str
    policy: str
    month: str
    requests: int
    quota: int | None
    over_quota: bool
    questions: int
    contacts: int
    timers_met: int
    timers_breached: int


@dataclass(frozen=True, slots=True)
class BreachedTimer:
    """A timer instance breached in a month (as `nls incident stats` counts it): a Service
    Level Failure where the customer's policy makes breaches one. `ref` is what
    `nls credit claim --failure` names: stable, since the incident id and the timer's kind and
    cycle never change."""

    incident: int
    customer: str
    kind: str
    cycle: int  # 0: the first instance of its kind
    priority: str
    due: datetime
    stopped: datetime | None  # met late at this instant; None: still not met
    zone: str  # the policy's zone, for the text

    @property
    def ref(self) -> str:
        suffix = f"-{self.cycle + 1}" if self.cycle else ""
        return f"INC-{self.incident}/{self.kind}{suffix}"

    @property
    def what(self) -> str:
        local = self.due.astimezone(ZoneInfo(self.zone)).strftime("%Y-%m-%d %H:%M %Z")
        late = "not met" if self.stopped is None else f"met {_late(self.stopped - self.due)} late"
        return f"incident {self.incident} {self.kind} ({self.priority}) due {local}, {late}"


def _late(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


@dataclass(frozen=True, slots=True)
class IncidentMark:
    """What the fleet grid shows of a server's open incidents: the one whose timer is due
    first (or the newest when none has a timer) and how many are open."""

    id: int
    priority: str
    open: int
    timer: TimerRow | None = None


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
