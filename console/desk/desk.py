"""The incident desk inside the process that owns the store: opening incidents, adding events,
the timers of every incident at any instant, lists, monthly statistics, and the notices the
policies ask for (warnings, breaches, escalations), each queued in the outbox once.

Open incidents are kept in memory with their events and, per incident, the history the timer
engine reads (`console.sla.timers.read_history`); it changes only when an event is added, so
recomputing a thousand incidents' timers for a list or a notice tick is `timers_at` with a new
`now`. Everything is checked here or in `console.sla.lifecycle` before anything is written, and
every error is a `UsageError` naming the value (exit 2 on the command line, nothing written).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from console.clock import Clock
from console.desk import store as db
from console.desk.access import check_event, check_open, readable_events, staff_resolver
from console.desk.records import (
    BreachedTimer,
    Incident,
    IncidentDetail,
    IncidentEvent,
    IncidentMark,
    IncidentQuery,
    IncidentRow,
    IncidentStats,
    TimerRow,
)
from console.directory import Directory
from console.errors import NotFound, UsageError
from console.identity import Caller
from console.mail.notify import NotifySettings
from console.sla.calendar import from_us, to_us
from console.sla.entitlements import (
    IncidentRecord,
    breached_timers,
    month_bounds,
    monthly_counts,
)
from console.sla.lifecycle import STATUSES, check_new_incident, status_after
from console.sla.notices import Notice, notices
from console.sla.policy import Policy, catalog_of
from console.sla.timers import (
    History,
    Timer,
    TimerState,
    compute_timers,
    current_priority,
    most_urgent,
    read_history,
    timers_at,
)

if TYPE_CHECKING:
    from console.config import Config
    from console.store.worker import StoreWorker

log = logging.getLogger("nls.desk")
FUTURE_SLACK = timedelta(minutes=1)  # clocks of two machines differ a little
NOTICE_KIND = "incident"


@dataclass(eq=False)
class Kept:
    """An open incident as the desk keeps it: its events and, once asked, its history."""

    incident: Incident
    events: tuple[IncidentEvent, ...]
    policy: Policy | None
    _history: History | None = field(default=None, repr=False)

    def history(self) -> History | None:
        if self.policy is None:
            return None
        if self._history is None:
            self._history = read_history(
                self.policy,
                self.incident.opening_priority,
                self.incident.opened_at,
                db.timer_events(self.events),
            )
        return self._history

    def timers(self, now_us: int) -> list[Timer]:
        history = self.history()
        if history is None or self.policy is None:
            return []
        if now_us >= history.last_us:
            return timers_at(self.policy, history, now_us)
        return compute_timers(  # evaluated before its latest event: read up to now
            self.policy,
            self.incident.opening_priority,
            self.incident.opened_at,
            db.timer_events(self.events),
            now_us,
        )


class Desk:
    """One per service. `on_change(servers)` is awaited after every write (the fleet rows of
    those servers show their open incidents); `on_mail()` after notices were queued."""

    def __init__(self, config: Config, directory: Directory, store: StoreWorker, clock: Clock):
        self.config = config
        self.directory = directory
        self.store = store
        self.clock = clock
        self.catalog = catalog_of(config)
        self.open: dict[int, Kept] = {}
        self.on_change: Callable[[Sequence[str]], Awaitable[None]] | None = None
        self.on_mail: Callable[[], None] | None = None
        smtp = config.smtp
        self._settings = (
            NotifySettings(support=smtp.support, ops_address=smtp.ops_address)
            if smtp
            else NotifySettings()
        )
        self._sent: set[str] = set()
        self._by_server: dict[str, set[int]] = {}

    # -- state ------------------------------------------------------------------------------

    async def load(self) -> None:
        found = await self.store.call(
            lambda s: db.with_events(s.con, "status IN ('open', 'waiting')")
        )
        self.open.clear()
        self._by_server.clear()
        for incident, events in found:
            self._keep(incident, events)
        self._sent = set(
            await self.store.call(
                lambda s: [
                    row[0]
                    for row in s.con.execute(
                        "SELECT key FROM outbox WHERE kind = ?", [NOTICE_KIND]
                    ).fetchall()
                ]
            )
        )

    def policy(self, name: str) -> Policy | None:
        """A stored incident's policy; None when the configuration no longer has it."""
        return self.catalog.policy(name) if name in self.catalog else None

    def _keep(self, incident: Incident, events: Sequence[IncidentEvent]) -> None:
        old = self.open.pop(incident.id, None)
        if old is not None and old.incident.server:
            self._by_server.get(old.incident.server, set()).discard(incident.id)
        if not incident.is_open:
            return
        self.open[incident.id] = Kept(incident, tuple(events), self.policy(incident.policy))
        if incident.server:
            self._by_server.setdefault(incident.server, set()).add(incident.id)

    async def reload(
        self, ids: Iterable[int] = (), servers: Iterable[str] = (), *, notify: bool = True
    ) -> None:
        """Read these incidents (and the open ones of these servers) again after a write;
        `notify`: tell `on_change` which servers' rows to refresh."""
        ids, servers = list(ids), list(servers)
        known = [i for s in servers for i in self._by_server.get(s, ())]

        def read(s: Any) -> list[tuple[Incident, list[IncidentEvent]]]:
            found = db.open_of_servers(s.con, servers) if servers else []
            wanted = sorted(set(ids) | set(known))
            if wanted:
                found += db.with_events(s.con, "id IN (SELECT unnest($1::BIGINT[]))", [wanted])
            return found

        for incident, events in await self.store.call(read):
            self._keep(incident, events)
        touched = set(servers)
        for incident_id in ids:
            kept = self.open.get(incident_id)
            if kept is not None and kept.incident.server:
                touched.add(kept.incident.server)
        if notify and self.on_change is not None:
            await self.on_change(sorted(touched))

    # -- writes -----------------------------------------------------------------------------

    async def open_incident(
        self,
        *,
        caller: Caller,
        customer: str,
        priority: str,
        server: str | None = None,
        incident_type: str = "problem",
        title: str = "",
        at: datetime | None = None,
    ) -> Incident:
        """Open an incident by hand for `caller` (its author; ops only, see console.desk.access)."""
        check_open(caller)
        scope, author = caller.installer, caller.user
        now = self.clock()
        when = self._instant(at, now, "--at")
        found = self._customer(scope, customer)
        if server:
            self._require(scope, "server", server)
            owner = self.directory.server(server).customer
            if owner != customer:
                raise UsageError(
                    f"server {server!r} belongs to customer {owner!r}, not {customer!r}"
                )
        if found.sla_plan is None:
            raise UsageError(
                f"customer {customer!r} has no sla_plan: give it one in {self.config.source} "
                "to open incidents for it"
            )
        policy = self.catalog.require(found.sla_plan)
        check_new_incident(policy, priority, incident_type)
        if not title.strip():
            where = f" on {self.directory.server(server).name or server}" if server else ""
            title = f"{incident_type} from {found.name}{where}"
        incident = await self.store.call(
            lambda s: db.create(
                s.con,
                title=" ".join(title.split()),
                incident_type=incident_type,
                priority=priority,
                server=server or None,
                customer=customer,
                installer=found.installer,
                policy=found.sla_plan,
                opened_at=when,
                recorded_at=now,
                opened_by=author,
                source="manual",
            )
        )
        await self.reload([incident.id])
        await self.tick([incident.id])
        return incident

    async def add_event(
        self,
        *,
        caller: Caller,
        incident_id: int,
        kind: str,
        text: str = "",
        at: datetime | None = None,
    ) -> IncidentEvent:
        """Append an event as `caller`: an incident outside its scope is NotFound, and an
        installer's staff add only what console.desk.access allows."""
        check_event(caller, kind, at)
        scope, author = caller.installer, caller.user
        now = self.clock()
        when = self._instant(at, now, "--at")

        def policy_of(incident: Incident) -> Policy:
            return self.catalog.require(incident.policy)

        def visible(incident: Incident) -> bool:
            return scope is None or incident.installer == scope

        _incident, event = await self.store.call(
            lambda s: db.add_event(
                s.con,
                incident_id,
                policy_of=policy_of,
                visible=visible,
                at=when,
                recorded_at=now,
                author=author,
                kind=kind,
                text=text,
            )
        )
        kept = self.open.get(incident_id)
        server = kept.incident.server if kept is not None else None
        await self.reload([incident_id], [server] if server else [])
        await self.tick([incident_id])
        return event

    # -- reads ------------------------------------------------------------------------------

    async def show(
        self,
        scope: str | None,
        incident_id: int,
        now: datetime | None,
        reader: Caller | None = None,
    ) -> IncidentDetail:
        """The incident at `now`; `reader` (None: the desk) reads the part of its history
        console.desk.access allows, its timers still count every event."""
        at = self._instant(now, None, "--now") if now is not None else self.clock()
        kept = self.open.get(incident_id)
        if kept is None:
            incident, events = await self.store.read(lambda s: db.one(s.con, incident_id))
            kept = Kept(incident, tuple(events), self.policy(incident.policy))
        if scope is not None and kept.incident.installer != scope:
            raise NotFound(f"no incident {incident_id}; see `nls incident list`")
        if at < kept.incident.opened_at:
            raise UsageError(
                f"--now {at.isoformat()} is before incident {incident_id} was opened "
                f"({kept.incident.opened_at.isoformat()})"
            )
        timers = kept.timers(to_us(at))
        return IncidentDetail(
            _as_of(kept.incident, kept.events, at),
            readable_events(reader, kept.events, staff_resolver(self.config.access)),
            tuple(timer_row(kept.policy, t, to_us(at)) for t in timers if kept.policy),
            at,
        )

    async def incidents(
        self,
        scope: str | None,
        query: IncidentQuery,
        now: datetime | None,
        reader: Caller | None = None,
    ) -> list[IncidentRow]:
        """Incidents in scope matching `query` at `now` (default: the clock). A `now` in the
        past shows the past: incidents opened later are left out, and each one's status is the
        one its events had then. Event counts are of what `reader` may read (see show)."""
        staff_of = staff_resolver(self.config.access)
        clock = self.clock()
        at = self._instant(now, None, "--now") if now is not None else clock
        past = at < clock - FUTURE_SLACK
        self._check_query(scope, query)
        candidates: list[Kept] = list(self.open.values())
        if past or not (query.open_only or query.breaching or query.status in ("open", "waiting")):
            closed = await self.store.read(
                lambda s: db.with_events(s.con, "status IN ('resolved', 'closed')")
            )
            candidates += [Kept(i, tuple(e), self.policy(i.policy)) for i, e in closed]
        at_us = to_us(at)
        rows = []
        for kept in candidates:
            incident = kept.incident
            if past:
                if incident.opened_at > at:
                    continue
                incident = _as_of(incident, kept.events, at)
            if not _matches(incident, scope, query):
                continue
            timers = kept.timers(at_us)
            urgent = most_urgent(timers)
            breached = sum(1 for t in timers if t.open and t.state == TimerState.BREACHED)
            if query.breaching and not any(
                t.open and (t.state == TimerState.BREACHED or t.warning.value != "none")
                for t in timers
            ):
                continue
            readable = [e for e in readable_events(reader, kept.events, staff_of) if e.at <= at]
            rows.append(
                IncidentRow(
                    incident,
                    timer_row(kept.policy, urgent, at_us) if urgent and kept.policy else None,
                    breached,
                    len(readable),
                    max((e.at for e in readable), default=None),
                )
            )
        rows.sort(key=_due_order)
        return rows

    async def _month_records(
        self, scope: str | None, month: str
    ) -> tuple[list[IncidentRecord], dict[str, Policy | None], dict[str, str]]:
        """The incidents in scope that may count in `month` (open, or with an event within a
        day of it), each customer's policy (its current plan) and name."""
        try:
            lo, hi = month_bounds(month, "UTC")
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        # Months are read in each policy's zone: take a day of margin on both sides.
        since, until = from_us(lo) - timedelta(days=1), from_us(hi) + timedelta(days=1)
        found = await self.store.read(
            lambda s: db.with_events(
                s.con,
                "opened_at < ? AND (status IN ('open', 'waiting') OR id IN "
                "(SELECT incident FROM incident_events WHERE ts >= ?))",
                [until, since],
            )
        )
        records = []
        policies: dict[str, Policy | None] = {}
        names: dict[str, str] = {}
        for incident, events in found:
            if scope is not None and incident.installer != scope:
                continue
            customer = self.directory.customers.get(incident.customer)
            plan = customer.sla_plan if customer and customer.sla_plan else incident.policy
            policies.setdefault(incident.customer, self.policy(plan))
            names[incident.customer] = customer.name if customer else incident.customer
            records.append(
                IncidentRecord(
                    incident.id,
                    incident.customer,
                    incident.type,
                    incident.opening_priority,
                    incident.opened_at,
                    tuple(db.timer_events(events)),
                    incident.source == "monitoring",
                )
            )
        return records, policies, names

    async def breached_timers(self, scope: str | None, month: str) -> list[BreachedTimer]:
        """The month's breached timers, counted exactly as `stats` counts them (a timer is
        breached in the month its due instant fell in, in the policy's zone): the Service
        Level Failures the incident desk hands to service credits."""
        now = self.clock()
        records, policies, _names = await self._month_records(scope, month)
        found = []
        for record, timer in breached_timers(records, month, policies, now):
            policy = policies[record.customer]
            assert policy is not None
            found.append(
                BreachedTimer(
                    int(record.id),
                    record.customer,
                    timer.kind,
                    timer.cycle,
                    timer.priority,
                    timer.due,
                    timer.stopped,
                    policy.zone,
                )
            )
        return found

    async def stats(self, scope: str | None, month: str) -> list[IncidentStats]:
        now = self.clock()
        records, policies, names = await self._month_records(scope, month)
        counts = monthly_counts(records, month, policies, now)
        return [
            IncidentStats(
                c.customer,
                names.get(c.customer, c.customer),
                (policies.get(c.customer) or _NoPolicy).name,
                c.month,
                c.requests,
                c.quota,
                c.over_quota,
                c.questions,
                c.contacts,
                c.timers_met,
                c.timers_breached,
            )
            for c in counts
        ]

    def mark(self, server: str, now: datetime) -> IncidentMark | None:
        """The fleet grid's view of a server's open incidents."""
        ids = self._by_server.get(server)
        if not ids:
            return None
        at = to_us(now)
        best: tuple[Any, ...] | None = None
        for incident_id in ids:
            kept = self.open[incident_id]
            urgent = most_urgent(kept.timers(at))
            key = (urgent.due_us if urgent else 1 << 62, -kept.incident.id)
            if best is None or key < best[0]:
                best = (key, kept, urgent)
        assert best is not None
        _, kept, urgent = best
        return IncidentMark(
            kept.incident.id,
            kept.incident.priority,
            len(ids),
            timer_row(kept.policy, urgent, at) if urgent and kept.policy else None,
        )

    # -- notices ----------------------------------------------------------------------------

    async def tick(self, ids: Iterable[int] | None = None) -> int:
        """Queue in the outbox every warning, breach and escalation the open incidents' timers
        call for now and that was not queued before (their keys are the outbox keys, so a
        restart repeats none). Returns how many mails were queued."""
        from console.mail.incidentmail import render_notice

        now = self.clock()
        at = to_us(now)
        chosen = (
            self.open.values() if ids is None else [self.open[i] for i in ids if i in self.open]
        )
        mails = []
        for kept in chosen:
            if kept.policy is None:
                continue
            for notice in notices(kept.policy, kept.timers(at)):
                key = f"nls-incident-{kept.incident.id}-{notice.key}"
                if key in self._sent:
                    continue
                facts = self._facts(kept.incident)
                recipients = self._recipients(notice, facts)
                if not recipients:
                    self._sent.add(key)
                    log.info("notice %s has no recipient (no ops_address?): not queued", key)
                    continue
                mail = render_notice(facts, notice.what, notice.timer, self._settings)
                mails.append(db.QueuedMail(key, kept.incident, recipients, *mail))
        if not mails:
            return 0
        await self.store.call(lambda s: db.queue_mails(s.con, mails, now, NOTICE_KIND))
        self._sent.update(m.key for m in mails)
        if self.on_mail is not None:
            self.on_mail()
        return len(mails)

    def _facts(self, incident: Incident) -> Any:
        from console.mail.incidentmail import IncidentFacts

        directory = self.directory
        customer = directory.customers.get(incident.customer)
        installer = directory.installers.get(incident.installer)
        server = directory.servers.get(incident.server) if incident.server else None
        smtp = self.config.smtp
        return IncidentFacts(
            incident=incident,
            customer_name=customer.name if customer else incident.customer,
            installer_name=installer.name if installer else incident.installer,
            server_name=(server.name or server.id) if server else "",
            emails=tuple(installer.emails) if installer else (),
            language=installer.language if installer else "en",
            timezone=directory.zone("customer", incident.customer)
            if customer
            else "Europe/Brussels",
            ops_address=smtp.ops_address if smtp else None,
            support=smtp.support if smtp else "",
        )

    @staticmethod
    def _recipients(notice: Notice, facts: Any) -> tuple[str, ...]:
        found: dict[str, str] = {}
        for who in notice.recipients:
            addresses: Sequence[str | None]
            if who == "ops":
                addresses = [facts.ops_address]
            elif who == "installer":
                addresses = facts.emails
            else:
                addresses = [who]
            for address in addresses:
                if address and address.strip():
                    found.setdefault(address.strip().lower(), address.strip())
        return tuple(found.values())

    # -- checks -----------------------------------------------------------------------------

    def _instant(self, value: datetime | None, now: datetime | None, option: str) -> datetime:
        """An aware instant; with `now`, not in the future (an event happened already)."""
        if value is None:
            assert now is not None
            return now
        if value.tzinfo is None or value.utcoffset() is None:
            raise UsageError(
                f"{option} {value.isoformat()} has no UTC offset; add one, e.g. "
                f"{value.isoformat()}+01:00 or Z for UTC"
            )
        if now is not None and value > now + FUTURE_SLACK:
            raise UsageError(
                f"{option} {value.isoformat()} is in the future; events are recorded once they "
                "happened"
            )
        return value

    def _require(self, scope: str | None, kind: Any, scope_id: str) -> None:
        if scope is None:
            self.directory.require(kind, scope_id)
        elif not self.directory.in_scope(scope, kind, scope_id):
            raise NotFound(f"no {kind} {scope_id!r}")

    def _customer(self, scope: str | None, customer: str) -> Any:
        self._require(scope, "customer", customer)
        return self.directory.customer(customer)

    def _check_query(self, scope: str | None, query: IncidentQuery) -> None:
        if query.installer:
            self._require(scope, "installer", query.installer)
        if query.customer:
            self._require(scope, "customer", query.customer)
        if query.server:
            self._require(scope, "server", query.server)
        if query.status is not None and query.status not in STATUSES:
            raise UsageError(f"unknown status {query.status!r}; known: {', '.join(STATUSES)}")


class _NoPolicy:
    name = ""


def _as_of(incident: Incident, events: Sequence[IncidentEvent], at: datetime) -> Incident:
    """The incident as it stood at `at`: status and priority after the events until then."""
    history = db.timer_events(e for e in events if e.at <= at)
    status = status_after(history)
    priority = current_priority(incident.opening_priority, history)
    if (status, priority) == (incident.status, incident.priority):
        return incident
    return replace(incident, status=status, priority=priority)


def _matches(incident: Incident, scope: str | None, query: IncidentQuery) -> bool:
    return (
        (scope is None or incident.installer == scope)
        and (query.installer is None or incident.installer == query.installer)
        and (query.customer is None or incident.customer == query.customer)
        and (query.server is None or incident.server == query.server)
        and (query.priority is None or incident.priority == query.priority)
        and (query.status is None or incident.status == query.status)
        and (not query.open_only or incident.is_open)
    )


def _due_order(row: IncidentRow) -> tuple[int, float, int]:
    """What is due next first; incidents without an open timer after, newest first."""
    if row.timer is not None:
        return (0, row.timer.due.timestamp(), row.incident.id)
    return (1 if row.incident.is_open else 2, -row.incident.opened_at.timestamp(), -row.incident.id)


def timer_row(policy: Policy | None, timer: Timer, now_us: int) -> TimerRow:
    """A timer as screens and commands see it, with the instants a running one turns at risk
    and urgent: from now on nothing pauses it (a pause is an event), so they are plain counted
    time on its clock."""
    at_risk_at = urgent_at = None
    if policy is not None and timer.state == TimerState.RUNNING:
        clock = timer.target.clock
        left = timer.remaining_us
        # at risk once used >= at_risk * target (timers.py), i.e. remaining <= risk_left
        risk_left = timer.target_us - math.ceil(policy.at_risk * timer.target_us)
        if left > risk_left:
            at_risk_at = from_us(clock.add_us(now_us, left - risk_left))
        if left > policy.urgent_us:
            urgent_at = from_us(clock.add_us(now_us, left - policy.urgent_us))
    return TimerRow(
        kind=timer.kind,
        cycle=timer.cycle,
        priority=timer.priority,
        state=timer.state.value,
        warning=timer.warning.value,
        target=timer.target.describe(),
        anchor=timer.anchor,
        due=timer.due,
        stopped=timer.stopped,
        remaining_s=timer.remaining_us / 1e6,
        at_risk_at=at_risk_at,
        urgent_at=urgent_at,
        escalations=timer.escalations,
    )
