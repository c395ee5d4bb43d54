"""The monitor's own health: one alarm to ops while the monitoring side is failing.

A probe that could not run because of the monitor itself (no free file descriptor, no ephemeral
port, its own event loop stalled past a timeout, a store that cannot write) says nothing about
the customer's server: its samples are `unknown`, they never count toward an alert or downtime,
and the failure raises ONE self-health alarm: a log line, the console header, `nls check`'s exit
status and one mail to ops. The alarm clears once a whole interval (at least a minute) has
passed without another monitor-side failure (then a second line and a second mail say so), so
a persistent problem is reported once, not once per slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

log = logging.getLogger("nls.health")

CAUSES = {
    "local": "the monitor could not open connections",
    "overload": "the monitor was overloaded",
    "store": "the monitor's database failed",
}


@dataclass(frozen=True, slots=True)
class HealthStatus:
    """What the header, `nls check` and the daemon's log say about the monitor itself."""

    alarm: bool = False
    cause: str = ""
    """One line: what failed on the monitoring side, with the first error seen."""
    since: datetime | None = None
    affected: int = 0
    """Probes made `unknown` by the monitor's own failures since the alarm was raised."""
    lag_s: float = 0.0
    """How late the last slot's probes started after the slot was due."""
    late_slots: int = 0
    """Slots that overran (started late by more than a slot) since start."""

    def line(self) -> str:
        """The header's text for the alarm, empty when all is well."""
        if not self.alarm:
            return ""
        return f"MONITOR FAULT: {self.cause} ({self.affected} probes unknown)"


Listener = Callable[[HealthStatus, HealthStatus], None]


class Health:
    """Collects monitor-side failures and raises/clears the alarm; pure except for logging."""

    def __init__(self, clock: Callable[[], datetime], clear_after: float) -> None:
        self.clock = clock
        self.clear_after = clear_after
        self.status = HealthStatus()
        self.listeners: list[Listener] = []
        self._last_fault: datetime | None = None

    def fault(self, kind: str, detail: str, probes: int = 1) -> None:
        """`probes` probes (or store writes) failed on the monitor's side for `kind`."""
        now = self.clock()
        self._last_fault = now
        old = self.status
        if old.alarm:
            self.status = replace(old, affected=old.affected + probes)
            return
        cause = f"{CAUSES.get(kind, kind)}: {detail}"
        self.status = replace(old, alarm=True, cause=cause, since=now, affected=probes)
        log.error(
            "self-health alarm",
            extra={"event": "health", "alarm": "on", "cause": cause, "probes": probes},
        )
        self._changed(old)

    def settle(self) -> None:
        """Called after every batch: clears the alarm after a clean interval."""
        old = self.status
        if not old.alarm or self._last_fault is None:
            return
        quiet = (self.clock() - self._last_fault).total_seconds()
        if quiet < self.clear_after:
            return
        self.status = replace(old, alarm=False, cause="", since=None, affected=0)
        log.warning(
            "self-health alarm cleared",
            extra={"event": "health", "alarm": "off", "was": old.cause, "probes": old.affected},
        )
        self._changed(old)

    def slot_lag(self, lag_s: float, slot_s: float, servers: int) -> None:
        """Record how late a slot started; an overrun (more than a slot late) is logged."""
        late = lag_s > slot_s
        self.status = replace(
            self.status, lag_s=lag_s, late_slots=self.status.late_slots + (1 if late else 0)
        )
        if late:
            log.warning(
                "slot overran its schedule",
                extra={"event": "slot_late", "lag_s": round(lag_s, 1), "servers": servers},
            )

    def _changed(self, old: HealthStatus) -> None:
        for listener in list(self.listeners):
            try:
                listener(old, self.status)
            except Exception:
                log.exception("health listener failed")


class LoopWatch:
    """Measures how late the event loop wakes up: a timeout that expired while the loop itself
    was stalled (CPU starvation, a blocking call) is the monitor's failure, not the server's."""

    def __init__(self, period: float = 0.1, keep: float = 600.0) -> None:
        self.period = period
        self.keep = keep
        self._lags: deque[tuple[float, float]] = deque()
        self._task: asyncio.Task[None] | None = None
        self._awake = time.monotonic()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(self.period)
            now = self._awake = time.monotonic()
            lag = now - before - self.period
            if lag > 0.05:
                self._lags.append((now, lag))
            while self._lags and self._lags[0][0] < now - self.keep:
                self._lags.popleft()

    def stalled(self, since: float, until: float | None = None) -> float:
        """The longest stall of the loop that ended in [since, until] (monotonic seconds),
        including one still going on now."""
        now = time.monotonic()
        until = now if until is None else until
        # a stall that just ended, before this watch has woken up to record it
        worst = max(0.0, now - self._awake - self.period) if self._task is not None else 0.0
        for at, lag in reversed(self._lags):
            if at < since:
                break
            if at <= until + self.period:
                worst = max(worst, lag)
        return worst
