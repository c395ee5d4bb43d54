"""The narrow data interface between the engine and every view (TUI, exports, daemon API).

Screens only see these types and the `FleetSource` protocol, so an embedded engine and a daemon
reached over a unix socket are two transports behind one console.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from console.desk.records import (
    Incident,
    IncidentDetail,
    IncidentEvent,
    IncidentMark,
    IncidentQuery,
    IncidentRow,
    IncidentStats,
)
from console.directory import ScopeKind
from console.errors import AccessDenied as AccessDenied  # re-exported: screens catch it
from console.monitor.maintenance import MaintenanceWindow
from console.monitor.sample import Sample
from console.status import Status as Status


@dataclass(frozen=True, slots=True)
class Failing:
    """One failing check on a server and for how many consecutive checks it has failed."""

    check: str
    subject: str
    consecutive: int
    detail: str
    alerted_at: datetime | None = None
    """When the installer was alerted (the mail queued); None while pending or held back."""


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
    availability_known_s: float | None = None
    """Seconds of known (not `unknown`) time in the 30 days the figure rests on: a figure over
    minutes of data is not a month's, and views must not present it as one."""
    quiet_until: datetime | None = None
    note: str = ""
    incident: IncidentMark | None = None
    """The server's open incident whose timer is due first (see console.desk)."""
    timezone: str = "UTC"
    """The IANA zone of the server's customer: its local time, for maintenance and mails."""
    kind: Literal["server", "web"] = "server"
    """`web`: an HTTP(S) service check ([[web_checks]]), shown in the grid beside its customer's
    servers; `name` is its URL, and its status comes from its `web` check."""


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
    user: str = ""
    role: str = ""
    mail_enabled: bool = True
    """An SMTP server is configured; without one, alert mails are recorded but never sent."""
    health: str = ""
    """The monitor's self-health alarm (empty when all is well): shown in the header."""
    lag_s: float | None = None
    """How late the last slot's probes started after it was due."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What `check_now` probed and stored: every sample, and the rows of the servers it checked
    after alerting saw them (so a first failure reads PEND here exactly as on the grid)."""

    samples: tuple[Sample, ...]
    rows: tuple[ServerRow, ...]
    mails: int = 0
    """Mails the cycle queued in the outbox (sent by the process that delivers)."""
    health: str = ""
    """The monitor's self-health alarm after the cycle (empty when all is well): `nls check`
    exits 4 with it, since samples the monitor could not take are unknown, not failures."""


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


IMPORT_CHUNK_ROWS = 20_000
"""At most this many samples per `import_samples` call (a call's frame must also stay under the
daemon's 1 MiB request limit: console.reports.delivery sends about 512 KiB at a time)."""
ReportKind = Literal["availability", "outages", "credits", "latency", "installer_html"]
ReportBy = Literal["server", "camera", "customer", "installer"]


@dataclass(frozen=True, slots=True)
class ExclusionRow:
    """Failed time on one server excused after the fact; never deleted, only revoked."""

    id: int
    server: str
    starts: datetime
    ends: datetime
    reason: str
    author: str
    created_at: datetime
    revoked_at: datetime | None = None
    revoked_by: str | None = None


@dataclass(frozen=True, slots=True)
class ClaimRow:
    """A customer's claim of one Service Level Failure; `new` is False when it was already on
    record (the first claim is the one that counts)."""

    customer: str
    month: str
    failure: str
    claimed_at: datetime
    author: str
    recorded_at: datetime
    new: bool = True


@dataclass(frozen=True, slots=True)
class ImportedSample:
    """One validated row of a history import, with its line in the file (for error messages)."""

    line: int
    ts: datetime
    server: str
    check: str
    subject: str
    state: str
    value: float | None
    detail: str


@dataclass(frozen=True, slots=True)
class ImportSummary:
    """`staged`: rows held for this import so far; after the commit, what was stored."""

    staged: int
    rows: int = 0
    added: int = 0
    skipped: int = 0
    series: int = 0
    committed: bool = False


@dataclass(frozen=True, slots=True)
class MailMessage:
    """One outbox entry with both bodies, for reading a mail as its recipient got it."""

    row: MailRow
    body_text: str
    body_html: str


class FleetSource(Protocol):
    """What a console may ask of an engine, embedded or attached over the daemon's socket.

    An installer-scoped source behaves as if other installers' servers did not exist: snapshot,
    updates, detail and history never show them, nor the incident calls their incidents, and
    `sql` raises AccessDenied.

    Adding a method: declare it here, implement it in `FleetView` (console/monitor/service.py)
    and add its `remote_call` line to `RemoteSource`; the wire reads the argument and result
    types from this declaration (an argument's size limits from `wire.BOUNDS`, by name), and
    errors travel as `console.errors` classes.

    A source acts for one caller (console.identity.Caller): the daemon knows it from the peer's
    Unix credentials, an embedded source from this process's. Writes record that caller.
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
        """Run one read-only statement; returns a pyarrow.Table (cut at the [sql] limits, which
        `console.sqlresult.result_cut` reports). ReadOnlyError/QueryError on bad SQL."""
        ...

    async def check_now(self, server_ids: Sequence[str] | None = None) -> CheckResult:
        """Probe now (every server in scope when None), outside the schedule, through the same
        pipeline as a scheduled cycle: samples, alert states and mails commit together."""
        ...

    async def scope_zone(self, scope_kind: ScopeKind, scope_id: str) -> str:
        """The IANA zone of a server, customer or installer: how local times entered for it are
        read. NotFound for an id that does not exist or lies outside the scope."""
        ...

    async def maintenance_list(self) -> list[MaintenanceWindow]: ...

    async def maintenance_add(self, window: MaintenanceWindow) -> MaintenanceWindow:
        """Store a window and return it as stored: the id, the author (the caller's account) and
        the time it was recorded are the source's, whatever the client sent; an announcement in
        the future is refused."""
        ...

    async def maintenance_remove(self, window_id: int) -> None:
        """End a window now, recording the caller's account as who removed it."""
        ...

    async def outbox(self, limit: int = 100) -> list[MailRow]: ...

    async def report(
        self,
        kind: ReportKind,
        month: str,
        by: ReportBy = "server",
        installer_id: str | None = None,
        customer_id: str | None = None,
    ) -> Any:
        """A monthly report (console.reports) as a pyarrow.Table over the caller's scope:
        availability by `by`, outages, credits, latency, or the installer's HTML page (one row,
        column `html`). Bad input is a UsageError; an id outside the scope is NotFound."""
        ...

    async def outage_list(self, include_revoked: bool = False) -> list[ExclusionRow]: ...

    async def outage_exclude(
        self, server_id: str, starts: datetime, ends: datetime, reason: str
    ) -> ExclusionRow:
        """Excuse failed time on a server (ops only); the author is the caller's account."""
        ...

    async def outage_revoke(self, exclusion_id: int) -> ExclusionRow:
        """Undo an exclusion (ops only): the row stays, stamped with who revoked it and when."""
        ...

    async def credit_claim(
        self, customer_id: str, month: str, failure: str, claimed_at: datetime | None = None
    ) -> ClaimRow:
        """Record a customer's claim of one failure (ops only); a repeat keeps the first."""
        ...

    async def import_samples(self, samples: list[ImportedSample], commit: bool) -> ImportSummary:
        """Stage a chunk of a history import (ops only); with `commit` store every staged row
        in one transaction, skipping samples already stored. Nothing is stored unless the
        commit succeeds; closing the source drops what was staged."""

    async def incident_open(
        self,
        customer: str,
        priority: str,
        server: str | None = None,
        incident_type: str = "problem",
        title: str = "",
        at: datetime | None = None,
    ) -> Incident:
        """Open an incident by hand (a call, a question, a wish, an RMA) under the customer's
        SLA policy; `at` back-dates it (default: now). Its author is the caller's account; an
        installer's staff get AccessDenied (console.desk.access)."""
        ...

    async def incident_event(
        self, incident_id: int, kind: str, text: str = "", at: datetime | None = None
    ) -> IncidentEvent:
        """Append an event (customer-message, reply, note, ack, waiting, resume, resolve, close,
        reopen, priority) as the caller; UsageError and nothing written when the incident
        refuses it, AccessDenied when the caller's role may not write it (an installer's staff
        add only notes and customer messages, at the current time)."""
        ...

    async def incident_show(self, incident_id: int, now: datetime | None = None) -> IncidentDetail:
        """The incident, its events and its timers at `now` (default: the clock); an
        installer's staff get no internal notes but their own staff's and monitoring's."""
        ...

    async def incidents(
        self, where: IncidentQuery | None = None, now: datetime | None = None
    ) -> list[IncidentRow]:
        """Incidents in scope matching `where` (None: all), what is due next first."""
        ...

    async def incident_stats(self, month: str) -> list[IncidentStats]:
        """Per customer: requests against the quota, questions, contacts, timers met and
        breached in a calendar month "YYYY-MM" (in each policy's zone)."""
        ...

    async def mail(self, key: str) -> MailMessage:
        """One outbox entry with its bodies; KeyError for a key outside the scope."""
        ...

    async def close(self) -> None: ...
