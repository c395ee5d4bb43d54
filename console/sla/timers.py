"""An incident's SLA timers, computed from its event history: pure functions, no store, no clock.

Input: a compiled policy, the priority the incident was opened with, when it was opened, its
events (customer message, reply, note, ack, waiting, resume, resolve, close, reopen, priority),
and `now`. Output: one `Timer` per timer instance with its state, due instant, remaining counted
time, real time to due, warning and escalation levels reached. Recomputing from the history
means a corrected calendar or policy applies to open incidents too, and nothing is stored that
could drift from the events.

The rules, where contracts leave room (shared/reference/sla-semantics.md):
- `first_response` runs from the opening until the first public reply (or ack, if the policy
  says so); `resolution` and `notify_after` from the opening until resolve or close.
- `next_reply` runs from a customer message after the first reply until the next reply, from
  the first unanswered message or restarting at each one (policy `next_reply_anchor`).
- `periodic_update` runs from each reply (the last update sent) until the next one.
- `waiting` pauses every clock whose target allows it until `resume`, a customer message,
  resolve or close; a pause only ever postpones a due instant.
- resolve or close stops every clock: a timer stopped at or before its due instant is met.
- `reopen` continues `resolution` and `notify_after` where they stopped (the time the incident
  stood resolved does not count: the customer believed it fixed), starts a new
  `periodic_update` cycle at the reopen, and leaves the met first response alone.
- a priority change re-targets the clocks still running, from their original anchors; a timer
  already met or breached keeps the verdict of the priority in force when it stopped.
- events after `now` are ignored (evaluating the past shows the past).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from operator import attrgetter
from typing import Any

from console.sla.calendar import Calendar, from_us, to_us
from console.sla.policy import Policy, Target


class EventKind(StrEnum):
    CUSTOMER_MESSAGE = "customer-message"
    REPLY = "reply"  # public answer: meets first response and next reply, restarts updates
    NOTE = "note"  # internal
    ACK = "ack"
    WAITING = "waiting"  # waiting on the customer: pauses
    RESUME = "resume"
    RESOLVE = "resolve"
    CLOSE = "close"
    REOPEN = "reopen"
    PRIORITY = "priority"  # text: the new priority


EVENT_KINDS = tuple(kind.value for kind in EventKind)


class TimerState(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    MET = "met"
    BREACHED = "breached"


class WarningLevel(StrEnum):
    NONE = "none"
    AT_RISK = "at_risk"
    URGENT = "urgent"


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of an incident's history. `us` is `at` in microseconds, computed once."""

    at: datetime
    kind: str
    author: str = ""
    text: str = ""
    us: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {self.kind!r}; known: {', '.join(EVENT_KINDS)}")
        object.__setattr__(self, "us", to_us(self.at))


@dataclass(frozen=True, slots=True)
class Timer:
    """One timer instance at `now`. Instants and durations are microseconds (UTC epoch); the
    properties give datetimes. `remaining` is counted time (negative once overdue); `until_due`
    is real time from now to the due instant (what a countdown shows)."""

    kind: str
    cycle: int  # 0 for the first instance of this kind, 1 for the next next_reply, ...
    priority: str
    state: TimerState
    warning: WarningLevel
    anchor_us: int
    due_us: int
    stopped_us: int | None
    target_us: int
    remaining_us: int
    until_due_us: int
    escalations: tuple[str, ...]  # names of the escalation levels reached
    target: Target = field(repr=False, compare=False)

    @property
    def key(self) -> tuple[str, int]:
        """Stable identity across recomputations (for "notify once")."""
        return self.kind, self.cycle

    @property
    def open(self) -> bool:
        """Still running, paused, or breached and not yet stopped: someone owes an action."""
        return self.stopped_us is None

    @property
    def anchor(self) -> datetime:
        return from_us(self.anchor_us)

    @property
    def due(self) -> datetime:
        return from_us(self.due_us)

    @property
    def stopped(self) -> datetime | None:
        return None if self.stopped_us is None else from_us(self.stopped_us)

    @property
    def remaining(self) -> timedelta:
        return timedelta(microseconds=self.remaining_us)

    @property
    def until_due(self) -> timedelta:
        return timedelta(microseconds=self.until_due_us)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: ISO 8601 UTC instants, durations in seconds."""
        return {
            "kind": self.kind,
            "cycle": self.cycle,
            "priority": self.priority,
            "state": self.state.value,
            "warning": self.warning.value,
            "target": self.target.describe(),
            "anchor": iso(self.anchor_us),
            "due": iso(self.due_us),
            "stopped": None if self.stopped_us is None else iso(self.stopped_us),
            "remaining_s": self.remaining_us / 1e6,
            "until_due_s": self.until_due_us / 1e6,
            "escalations": list(self.escalations),
        }


def iso(us: int) -> str:
    return from_us(us).isoformat().replace("+00:00", "Z")


# -- the clock with pauses ------------------------------------------------------------------------

Spans = Sequence[tuple[int, int]]


def due_with_pauses(clock: Calendar, anchor: int, amount: int, pauses: Spans) -> int:
    """The earliest instant at which `amount` counted microseconds have passed since `anchor`
    outside `pauses` (sorted, disjoint, inside [anchor, ...))."""
    pos, need = anchor, amount
    for start, end in pauses:
        if start > pos:
            t = clock.add_us(pos, need)
            if t <= start:
                return t
            need -= clock.counted_us(pos, start)
        if end > pos:
            pos = end
    return clock.add_us(pos, need)


def used_with_pauses(clock: Calendar, anchor: int, end: int, pauses: Spans) -> int:
    """Counted microseconds in [anchor, end) outside `pauses` (clipped to that range)."""
    used = clock.counted_us(anchor, end)
    for start, stop in pauses:
        used -= clock.counted_us(start, stop)
    return used


def _clip(spans: Iterable[tuple[int, int]], lo: int, hi: int) -> list[tuple[int, int]]:
    return [(max(s, lo), min(e, hi)) for s, e in spans if e > lo and s < hi]


# -- reading the history --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class History:
    """What the clocks need from an incident's events, read in one pass. It depends on the
    events and on the policy's reading options, not on `now`: a screen can keep it per incident
    and event count, and recompute the timers every second with `timers_at`."""

    opened: int
    priorities: tuple[tuple[int, str], ...]  # (since, priority), first at the opening
    waits: tuple[tuple[int, int], ...]  # closed waits on the customer
    waiting_since: int | None  # a wait still open at the end of the history
    resolved: tuple[tuple[int, int], ...]  # resolve/close .. reopen
    stopped: int | None  # resolve/close in force at the end of the history
    first_response: int | None
    next_reply: tuple[tuple[int, int | None], ...]
    periodic: tuple[tuple[int, int | None], ...]
    last_us: int  # the latest event read (the opening if none)
    until: int | None  # events after this instant were left out (None: none were)

    def priority_at(self, t: int | None) -> str:
        """The priority in force at t (None: the current one)."""
        if t is None:
            return self.priorities[-1][1]
        found = self.priorities[0][1]
        for since, priority in self.priorities:
            if since > t:
                break
            found = priority
        return found


def read_history(
    policy: Policy,
    priority: str,
    opened_at: datetime | int,
    events: Sequence[Event],
    until: datetime | int | None = None,
) -> History:
    """The clocks' view of the events (those at or before `until`, if given); `priority` is the
    one the incident was opened with. Events need not be in order."""
    opened = opened_at if isinstance(opened_at, int) else to_us(opened_at)
    end = None if until is None else until if isinstance(until, int) else to_us(until)
    # The hot loop of every recomputation: locals only, one pass, strings compared by value.
    last_anchor = policy.spec.next_reply_anchor == "last_message"
    ack_responds = policy.spec.acknowledge_meets_first_response
    priorities = [(opened, priority)]
    waits: list[tuple[int, int]] = []
    resolved: list[tuple[int, int]] = []
    next_reply: list[tuple[int, int | None]] = []
    periodic: list[tuple[int, int | None]] = []
    first: int | None = None  # first response
    wait_from: int | None = None
    resolved_from: int | None = None
    answer_from: int | None = None  # open next_reply cycle
    update_from: int | None = None  # open periodic_update cycle
    last = opened
    for event in sorted(events, key=_US):  # timsort: linear when already in order
        t = event.us
        if end is not None and t > end:
            break
        if t > last:
            last = t
        kind = event.kind
        if kind == "note":
            continue
        if t < opened:
            t = opened
        if kind == "priority":
            priorities.append((t, event.text.strip()))
            continue
        if kind == "reopen":
            if resolved_from is not None:
                resolved.append((resolved_from, t))
                resolved_from = None
                if first is not None:
                    update_from = t
            continue
        if resolved_from is not None:
            continue  # on a resolved or closed incident only reopen (and notes) count
        if wait_from is not None and (
            kind == "resume" or kind == "customer-message" or kind == "resolve" or kind == "close"
        ):
            waits.append((wait_from, t))
            wait_from = None
        if kind == "customer-message":
            if first is not None and (answer_from is None or last_anchor):
                answer_from = t
        elif kind == "reply" or (kind == "ack" and ack_responds):
            if first is None:
                first = t
            elif kind == "ack":
                continue  # after the first response an ack answers nobody
            if answer_from is not None:
                next_reply.append((answer_from, t))
                answer_from = None
            if update_from is not None:
                periodic.append((update_from, t))
            update_from = t
        elif kind == "waiting":
            if wait_from is None:
                wait_from = t
        elif kind == "resolve" or kind == "close":
            resolved_from = t
            if first is None:
                first = t  # resolving answers the request
            if answer_from is not None:
                next_reply.append((answer_from, t))
                answer_from = None
            if update_from is not None:
                periodic.append((update_from, t))
                update_from = None
    if answer_from is not None:
        next_reply.append((answer_from, None))
    if update_from is not None:
        periodic.append((update_from, None))
    return History(
        opened,
        tuple(priorities),
        tuple(waits),
        wait_from,
        tuple(resolved),
        resolved_from,
        first,
        tuple(next_reply),
        tuple(periodic),
        last,
        end,
    )


_US = attrgetter("us")


# -- the timers -----------------------------------------------------------------------------------


def compute_timers(
    policy: Policy,
    priority: str,
    opened_at: datetime | int,
    events: Sequence[Event],
    now: datetime | int,
    *,
    all_cycles: bool = False,
) -> list[Timer]:
    """The incident's timers at `now`, in the order of policy.TIMER_KINDS.

    `priority` is the priority the incident was opened with; `priority` events change it (see
    `current_priority`). With all_cycles=False only the latest instance of each kind is
    returned (what a screen shows); with all_cycles=True every next_reply and periodic_update
    cycle too (what monthly statistics count). A kind without a target at the priority has no
    timer. Events after `now` are left out."""
    at = now if isinstance(now, int) else to_us(now)
    return timers_at(
        policy, read_history(policy, priority, opened_at, events, at), at, all_cycles=all_cycles
    )


def timers_at(
    policy: Policy, history: History, now: datetime | int, *, all_cycles: bool = False
) -> list[Timer]:
    """The timers of a read history at `now` (see `compute_timers`). A history read without
    `until` holds every event, so `now` must not be before its latest one."""
    at = now if isinstance(now, int) else to_us(now)
    if history.until is None and at < history.last_us:
        raise ValueError("the history holds events after now: read it with until=now")
    if history.until is not None and at != history.until:
        raise ValueError("the history was read up to another instant: read it with until=now")
    h = history
    opened = h.opened
    waits = h.waits if h.waiting_since is None else (*h.waits, (h.waiting_since, at))
    timers: list[Timer] = []
    for kind in policy.kinds:  # the kinds some priority of the policy has a target for
        if kind == "next_reply":
            cycles: Sequence[tuple[int, int | None]] = h.next_reply
        elif kind == "periodic_update":
            cycles = h.periodic
        elif kind == "first_response":
            cycles = ((opened, h.first_response),)
        else:
            cycles = ((opened, h.stopped),)
        first = 0 if all_cycles else max(len(cycles) - 1, 0)
        for cycle in range(first, len(cycles)):
            anchor, stop = cycles[cycle]
            timer = _timer(policy, kind, cycle, anchor, stop, h, waits, at)
            if timer is not None:
                timers.append(timer)
    return timers


def _timer(
    policy: Policy,
    kind: str,
    cycle: int,
    anchor: int,
    stop: int | None,
    h: History,
    waits: Sequence[tuple[int, int]],
    now: int,
) -> Timer | None:
    priority = h.priority_at(stop)
    target = policy.target(priority, kind)
    if target is None:
        return None
    clock = target.clock
    amount = target.amount_us(anchor)
    end = now if stop is None else stop
    if not target.pause:
        pauses: list[tuple[int, int]] = []
    elif kind in ("resolution", "notify_after") and h.resolved:
        pauses = _clip(sorted((*waits, *h.resolved)), anchor, end)
    else:
        pauses = _clip(waits, anchor, end) if waits else []
    due = due_with_pauses(clock, anchor, amount, pauses)
    remaining = amount - used_with_pauses(clock, anchor, end, pauses)
    if stop is not None:
        state = TimerState.MET if stop <= due else TimerState.BREACHED
        warning = WarningLevel.NONE
    elif now > due:
        state, warning = TimerState.BREACHED, WarningLevel.NONE
    else:
        state = (
            TimerState.PAUSED
            if h.waiting_since is not None and target.pause
            else TimerState.RUNNING
        )
        if remaining <= policy.urgent_us:
            warning = WarningLevel.URGENT
        elif amount - remaining >= policy.at_risk * amount:
            warning = WarningLevel.AT_RISK
        else:
            warning = WarningLevel.NONE
    reached: list[str] = []
    for level in policy.escalations:
        if not level.applies(priority, kind):
            continue
        if level.after_us >= 0:
            instant = clock.add_us(due, level.after_us)
        else:
            instant = due_with_pauses(clock, anchor, max(0, amount + level.after_us), pauses)
        if instant < end:
            reached.append(level.name)
    return Timer(
        kind,
        cycle,
        priority,
        state,
        warning,
        anchor,
        due,
        stop,
        amount,
        remaining,
        due - now,
        tuple(reached),
        target,
    )


def current_priority(priority: str, events: Iterable[Event]) -> str:
    """The priority after the `priority` events (text: the new priority), in time order."""
    changes = sorted((e for e in events if e.kind == "priority"), key=attrgetter("us"))
    return changes[-1].text.strip() if changes else priority


def most_urgent(timers: Iterable[Timer]) -> Timer | None:
    """The open timer due first (breached ones first of all): what a list sorts by."""
    open_timers = [t for t in timers if t.open]
    return min(open_timers, key=attrgetter("due_us"), default=None)


def due_instant(policy: Policy, priority: str, kind: str, opened_at: datetime) -> datetime | None:
    """When one timer anchored at `opened_at` is due if nothing else happens (what ops answer
    on the phone); None when the priority has no such target. For next_reply the anchor is a
    customer message at that instant, for periodic_update an update sent then."""
    target = policy.target(priority, kind)
    if target is None:
        return None
    anchor = to_us(opened_at)
    return from_us(target.clock.add_us(anchor, target.amount_us(anchor)))
