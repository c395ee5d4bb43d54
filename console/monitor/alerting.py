"""The three-strike alert state machine, one step per probe cycle, free of I/O.

Per (server, check, subject): ok, then pending for 1..N-1 consecutive failures, alerting at the
Nth, back to ok after `recover_after` successes. An 'unknown' sample (the probe could not tell)
neither counts as a failure nor resets the count, so the monitor's own trouble never becomes
customer downtime and never hides a real one.

`alerted_at` is the time the installer was told (an Alert event was emitted, or the item was
listed in a server's recovery mail). An item can be alerting with `alerted_at` None: it crossed the
threshold while quiet, in maintenance or behind a down server. It is announced late, at its next
failed check once nothing suppresses it any more, so a fault that outlives a maintenance window is
not lost. A Recovery event is emitted exactly when the alert had been announced: no orphaned
recoveries, and a resolution is never suppressed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from console.monitor.maintenance import MaintenanceWindow
from console.monitor.sample import Key, Reason, Sample

AlertStatus = Literal["ok", "pending", "alerting"]
Suppression = Literal["quiet", "maintenance", "server_down"]

SERVER_CHECK = "server_online"
DEPENDENT_CHECKS = frozenset({"camera", "cpu", "disk_activity"})


@dataclass(frozen=True, slots=True)
class AlertState:
    """One row of the `alert_state` table."""

    server: str
    check_name: str
    subject: str
    status: AlertStatus = "ok"
    failures: int = 0
    successes: int = 0
    first_failed: datetime | None = None
    alerted_at: datetime | None = None
    last_cycle: int = 0

    @property
    def key(self) -> Key:
        return (self.server, self.check_name, self.subject)

    @property
    def failing(self) -> bool:
        """The latest decisive sample was a failure."""
        return self.status != "ok" and self.successes == 0


@dataclass(frozen=True, slots=True)
class ServerPolicy:
    """Thresholds for one server, resolved by the caller from server, customer and installer."""

    threshold: int = 3
    recover_after: int = 1
    quiet_until: datetime | None = None

    def __post_init__(self) -> None:
        if self.threshold < 1 or self.recover_after < 1:
            raise ValueError(
                f"threshold ({self.threshold}) and recover_after ({self.recover_after}) "
                "must be at least 1"
            )


PolicySource = ServerPolicy | Mapping[str, ServerPolicy] | Callable[[str], ServerPolicy]
MaintenanceLookup = Callable[[str, datetime], MaintenanceWindow | None]


@dataclass(frozen=True, slots=True)
class Mark:
    """Why an item's events are held back this cycle; for the console and the record."""

    reason: Suppression
    note: str
    until: datetime | None = None
    window: MaintenanceWindow | None = None


@dataclass(frozen=True, slots=True)
class Alert:
    """An item crossed the threshold (or did so earlier, suppressed: `late`)."""

    server: str
    check: str
    subject: str
    label: str
    cycle: int
    ts: datetime
    first_failed: datetime
    failures: int
    value: float | None
    detail: str
    late: bool = False
    kind: Literal["alert"] = "alert"
    reason: Reason | None = None


@dataclass(frozen=True, slots=True)
class StillFailing:
    """A dependent item still failing when its server came back."""

    check: str
    subject: str
    label: str
    failures: int
    first_failed: datetime | None
    detail: str
    reason: Reason | None = None


@dataclass(frozen=True, slots=True)
class Recovery:
    """An announced alert is over; a server's recovery lists its dependents still failing."""

    server: str
    check: str
    subject: str
    label: str
    cycle: int
    ts: datetime
    first_failed: datetime
    alerted_at: datetime
    failures: int
    value: float | None
    detail: str
    still_failing: tuple[StillFailing, ...] = ()
    kind: Literal["recovery"] = "recovery"
    reason: Reason | None = None


Event = Alert | Recovery


@dataclass(frozen=True, slots=True)
class CycleResult:
    """Rows to upsert into alert_state, events to notify, and why items were held back."""

    states: tuple[AlertState, ...]
    events: tuple[Event, ...]
    marks: Mapping[Key, Mark] = field(default_factory=dict)


def wants_retry(state: AlertState) -> bool:
    """True while a failure awaits confirmation; the caller may then probe sooner."""
    return state.status == "pending"


def quiet_until(
    delivered: date | None, quiet_days: int, timezone: str = "Europe/Brussels"
) -> datetime | None:
    """End of the quiet period after delivery: local midnight `quiet_days` later, in UTC."""
    if delivered is None or quiet_days <= 0:
        return None
    end = datetime.combine(delivered + timedelta(days=quiet_days), time(), ZoneInfo(timezone))
    return end.astimezone(UTC)


def evaluate(
    cycle: int,
    samples: Iterable[Sample],
    previous: Iterable[AlertState] | Mapping[Key, AlertState],
    policy: PolicySource = ServerPolicy(),
    maintenance: MaintenanceLookup | None = None,
) -> CycleResult:
    """Advance every sampled item by one cycle and decide which events to emit.

    Items without a sample this cycle keep their state; they only change when their server
    recovers and lists them. Re-running a cycle from the same previous states yields the same
    result, which is what makes a crashed cycle safe to replay.
    """
    prev = previous if isinstance(previous, Mapping) else {s.key: s for s in previous}
    prev_keys = _KeysByServer(prev)
    resolve = _policy_resolver(policy)
    by_server: dict[str, dict[Key, Sample]] = {}
    for s in samples:
        by_server.setdefault(s.server, {})[s.key] = s

    states: dict[Key, AlertState] = {}
    events: list[Event] = []
    marks: dict[Key, Mark] = {}
    for server in sorted(by_server):
        server_samples = by_server[server]
        pol = resolve(server)
        found = _Evaluator(cycle, server, pol, prev, prev_keys, maintenance)
        found.run(server_samples)
        states.update(found.states)
        events.extend(found.events)
        marks.update(found.marks)
    ordered = tuple(states[k] for k in sorted(states))
    return CycleResult(ordered, tuple(events), marks)


class _Evaluator:
    """One server's step: its server_online item first, since it gates the dependents."""

    def __init__(
        self,
        cycle: int,
        server: str,
        policy: ServerPolicy,
        prev: Mapping[Key, AlertState],
        prev_keys: _KeysByServer,
        maintenance: MaintenanceLookup | None,
    ) -> None:
        self.cycle = cycle
        self.server = server
        self.policy = policy
        self.prev = prev
        self.prev_keys = prev_keys
        self.maintenance = maintenance
        self.states: dict[Key, AlertState] = {}
        self.events: list[Event] = []
        self.marks: dict[Key, Mark] = {}
        self._windows: dict[datetime, MaintenanceWindow | None] = {}

    def run(self, samples: Mapping[Key, Sample]) -> None:
        server_key = (self.server, SERVER_CHECK, "")
        server_recovery: Recovery | None = None
        if server_key in samples:
            server_recovery = self._step(samples[server_key], server_down=False)
        server_state = self.states.get(server_key) or self.prev.get(server_key)
        server_down = server_state is not None and server_state.failing
        for key in sorted(samples):
            if key != server_key:
                dependent = key[1] in DEPENDENT_CHECKS
                self._step(
                    samples[key],
                    server_down=server_down and dependent,
                    listed=server_recovery is not None and dependent,
                )
        if server_recovery is not None:
            still = self._still_failing(server_recovery.ts, samples)
            self.events.insert(0, replace(server_recovery, still_failing=still))
            self.events.sort(key=_event_order)

    def _step(self, sample: Sample, server_down: bool, listed: bool = False) -> Recovery | None:
        """Advance one item; returns a server's Recovery for `run` to complete.

        `listed`: the server's recovery mail of this cycle will announce this item instead.
        """
        old = self.prev.get(sample.key) or AlertState(*sample.key)
        new = _advance(old, sample, self.policy, self.cycle)
        mark = self._mark(sample.ts, server_down)
        if mark is not None:
            self.marks[sample.key] = mark
        recovery: Recovery | None = None
        if old.status == "alerting" and new.status == "ok":
            if old.alerted_at is not None and old.first_failed is not None:
                recovery = Recovery(
                    server=sample.server,
                    check=sample.check,
                    subject=sample.subject,
                    label=sample.label or sample.subject,
                    cycle=self.cycle,
                    ts=sample.ts,
                    first_failed=old.first_failed,
                    alerted_at=old.alerted_at,
                    failures=old.failures,
                    value=sample.value,
                    detail=sample.detail,
                    reason=sample.reason,
                )
        elif (
            new.status == "alerting"
            and new.alerted_at is None
            and sample.state == "fail"
            and mark is None
            and not listed
        ):
            assert new.first_failed is not None
            self.events.append(
                Alert(
                    server=sample.server,
                    check=sample.check,
                    subject=sample.subject,
                    label=sample.label or sample.subject,
                    cycle=self.cycle,
                    ts=sample.ts,
                    first_failed=new.first_failed,
                    failures=new.failures,
                    value=sample.value,
                    detail=sample.detail,
                    late=old.status == "alerting",
                    reason=sample.reason,
                )
            )
            new = replace(new, alerted_at=sample.ts)
        self.states[sample.key] = new
        if recovery is not None and sample.check != SERVER_CHECK:
            self.events.append(recovery)
            return None
        return recovery

    def _mark(self, ts: datetime, server_down: bool) -> Mark | None:
        until = self.policy.quiet_until
        if until is not None and ts < until:
            return Mark("quiet", f"quiet until {until.date().isoformat()}", until=until)
        if self.maintenance is not None:
            if ts not in self._windows:
                self._windows[ts] = self.maintenance(self.server, ts)
            window = self._windows[ts]
            if window is not None:
                occurrence = window.occurrence_at(ts)
                end = occurrence[1] if occurrence else None
                return Mark("maintenance", f"maintenance: {window.reason}", end, window)
        if server_down:
            return Mark("server_down", "server down")
        return None

    def _still_failing(
        self, ts: datetime, samples: Mapping[Key, Sample]
    ) -> tuple[StillFailing, ...]:
        """Dependents still failing; listing them in the recovery mail announces them."""
        keys = {*self.prev_keys(self.server), *self.states}
        found = []
        for key in sorted(keys):
            if key[1] not in DEPENDENT_CHECKS:
                continue
            state = self.states.get(key) or self.prev[key]
            if not state.failing:
                continue
            sample = samples.get(key)
            found.append(
                StillFailing(
                    check=key[1],
                    subject=key[2],
                    label=(sample.label if sample else "") or key[2],
                    failures=state.failures,
                    first_failed=state.first_failed,
                    detail=sample.detail if sample else "",
                    reason=sample.reason if sample else None,
                )
            )
            if state.status == "alerting" and state.alerted_at is None:
                announced = replace(state, alerted_at=ts)
                if key not in self.states:
                    announced = replace(announced, last_cycle=self.cycle)
                self.states[key] = announced
        return tuple(found)


class _KeysByServer:
    """The previous states' keys of one server, indexed on first use: only a server's
    recovery needs them, and scanning every state per recovering server is quadratic."""

    def __init__(self, prev: Mapping[Key, AlertState]) -> None:
        self._prev = prev
        self._index: dict[str, list[Key]] | None = None

    def __call__(self, server: str) -> list[Key]:
        if self._index is None:
            self._index = {}
            for key in self._prev:
                self._index.setdefault(key[0], []).append(key)
        return self._index.get(server, [])


def _advance(old: AlertState, sample: Sample, policy: ServerPolicy, cycle: int) -> AlertState:
    """The bare state machine, without policies."""
    if sample.state == "fail":
        failures = old.failures + 1
        status: AlertStatus = "alerting" if failures >= policy.threshold else "pending"
        if old.status == "alerting":
            status = "alerting"
        return replace(
            old,
            status=status,
            failures=failures,
            successes=0,
            first_failed=old.first_failed or sample.ts,
            last_cycle=cycle,
        )
    if sample.state == "ok":
        if old.status == "alerting" and old.successes + 1 < policy.recover_after:
            return replace(old, successes=old.successes + 1, last_cycle=cycle)
        return AlertState(*old.key, last_cycle=cycle)
    return replace(old, last_cycle=cycle)


def _policy_resolver(policy: PolicySource) -> Callable[[str], ServerPolicy]:
    if isinstance(policy, ServerPolicy):
        return lambda _server: policy
    if isinstance(policy, Mapping):
        default = ServerPolicy()
        return lambda server: policy.get(server, default)
    return policy


def _event_order(e: Event) -> tuple[str, int, str, str]:
    return (e.server, 0 if e.check == SERVER_CHECK else 1, e.check, e.subject)
