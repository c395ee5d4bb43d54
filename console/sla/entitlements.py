"""Monthly entitlements and desk statistics: counters over incident records, not timers.

Otter Basic allows 4 requests a month; Texpro counts questions and contacts per customer to
spot who needs training; SAFR counts missed timers as service level failures. Months are
calendar months in the zone of the customer's policy (UTC without one). Pure functions: the
incident store hands over its records, nothing here reads a database or a clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from console.sla.calendar import to_us
from console.sla.policy import Policy
from console.sla.timers import Event, Timer, TimerState, compute_timers


@dataclass(frozen=True, slots=True)
class IncidentRecord:
    """What the counters need of an incident: `priority` is the one it was opened with."""

    id: int | str
    customer: str
    type: str  # outage, problem, question, wish, rma
    priority: str
    opened_at: datetime
    events: Sequence[Event] = ()
    opened_by_monitoring: bool = False


@dataclass(frozen=True, slots=True)
class MonthlyCounts:
    customer: str
    month: str  # YYYY-MM
    requests: int  # opened by hand, of the types the quota counts
    quota: int | None  # requests allowed per month; None: unlimited
    questions: int
    contacts: int  # incidents opened by hand plus customer messages
    timers_met: int  # timer instances met in the month
    timers_breached: int  # timer instances whose due instant passed unmet in the month

    @property
    def over_quota(self) -> bool:
        return self.quota is not None and self.requests > self.quota


def month_bounds(month: str, zone: str) -> tuple[int, int]:
    """[start, end) of a calendar month "YYYY-MM" in a zone, as UTC microseconds."""
    try:
        year, mon = (int(part) for part in month.split("-"))
        first = date(year, mon, 1)
    except ValueError:
        raise ValueError(f"{month!r} is not a month; write YYYY-MM, e.g. 2026-03") from None
    after = date(year + mon // 12, mon % 12 + 1, 1)
    tz = ZoneInfo(zone)
    return (
        to_us(datetime(first.year, first.month, 1, tzinfo=tz)),
        to_us(datetime(after.year, after.month, 1, tzinfo=tz)),
    )


@dataclass(frozen=True, slots=True)
class MonthTimers:
    """One incident's timer instances counted in a month: met (stopped in time within it) and
    breached (due instant within it and not met by then)."""

    met: tuple[Timer, ...] = ()
    breached: tuple[Timer, ...] = ()


def month_timers(record: IncidentRecord, policy: Policy, lo: int, hi: int, at: int) -> MonthTimers:
    """The timers `nls incident stats` counts for [lo, hi) (UTC microseconds, see
    `month_bounds`) as of `at`, at most the end of the month; service credits count the same
    breaches (`breached_timers`), so both always agree."""
    opened = to_us(record.opened_at)
    if opened >= hi:
        return MonthTimers()
    met: list[Timer] = []
    breached: list[Timer] = []
    for timer in compute_timers(
        policy, record.priority, opened, record.events, min(at, hi), all_cycles=True
    ):
        if timer.state == TimerState.MET and timer.stopped_us is not None:
            if lo <= timer.stopped_us < hi:
                met.append(timer)
        elif timer.state == TimerState.BREACHED and lo <= timer.due_us < hi:
            breached.append(timer)
    return MonthTimers(tuple(met), tuple(breached))


def breached_timers(
    records: Iterable[IncidentRecord],
    month: str,
    policies: Mapping[str, Policy | None],
    now: datetime,
) -> list[tuple[IncidentRecord, Timer]]:
    """Every timer instance `monthly_counts` counts as breached in the month, with its
    incident, in incident and timer order (a customer without a policy has none)."""
    at = to_us(now)
    found = []
    for record in records:
        policy = policies.get(record.customer)
        if policy is None:
            continue
        lo, hi = month_bounds(month, policy.zone)
        found += [(record, t) for t in month_timers(record, policy, lo, hi, at).breached]
    return found


def monthly_counts(
    records: Iterable[IncidentRecord],
    month: str,
    policies: Mapping[str, Policy | None],
    now: datetime,
) -> list[MonthlyCounts]:
    """Per customer (sorted by id) with any incident or contact in the month: requests against
    the quota, questions, contacts, and timers met and breached, as of `now` (at most the end
    of the month)."""
    at = to_us(now)
    by_customer: dict[str, list[IncidentRecord]] = {}
    for record in records:
        by_customer.setdefault(record.customer, []).append(record)
    result = []
    for customer in sorted(by_customer):
        policy = policies.get(customer)
        lo, hi = month_bounds(month, policy.zone if policy else "UTC")
        quota = policy.spec.quota if policy else None
        counted_types = set(quota.types) if quota else set()
        requests = questions = contacts = met = breached = 0
        seen = False
        for record in by_customer[customer]:
            opened = to_us(record.opened_at)
            if lo <= opened < hi:
                seen = True
                if not record.opened_by_monitoring:
                    contacts += 1
                    requests += quota is None or record.type in counted_types
                questions += record.type == "question"
            messages = sum(
                1 for e in record.events if e.kind == "customer-message" and lo <= e.us < hi
            )
            contacts += messages
            seen = seen or messages > 0
            if policy is None:
                continue
            counted = month_timers(record, policy, lo, hi, at)
            met += len(counted.met)
            breached += len(counted.breached)
        if seen or met or breached:
            result.append(
                MonthlyCounts(
                    customer,
                    month,
                    requests,
                    quota.requests_per_month if quota else None,
                    questions,
                    contacts,
                    met,
                    breached,
                )
            )
    return result
