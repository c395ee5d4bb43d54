"""What a policy says to tell, and to whom, given an incident's timers: warnings, breaches and
escalation levels reached.

Pure: the daemon computes the notices at each tick and sends those whose `key` it has not
stored yet (the outbox holds the keys, so a crash or an SMTP outage repeats none and loses
none). A timer that has passed several thresholds since the last tick yields only its most
severe warning, but every escalation level it reached.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from console.sla.policy import Policy
from console.sla.timers import Timer, TimerState, WarningLevel


@dataclass(frozen=True, slots=True)
class Notice:
    timer: Timer
    what: str  # "at_risk", "urgent", "breached" or "escalation:<level name>"
    recipients: tuple[str, ...]  # e-mail addresses, "ops", "installer"

    @property
    def key(self) -> str:
        """Unique within one incident: kind, cycle and what (e.g. "next_reply:2:urgent")."""
        return f"{self.timer.kind}:{self.timer.cycle}:{self.what}"


def notices(policy: Policy, timers: Iterable[Timer]) -> list[Notice]:
    """The notices an incident's open timers call for now (already sent ones included: the
    caller drops the keys it has). Met timers call for none."""
    warn = tuple(policy.spec.warnings.notify)
    levels = {level.name: level for level in policy.escalations}
    found: list[Notice] = []
    for timer in timers:
        if not timer.open:
            continue  # met, or answered late: nothing left to warn about
        if timer.state == TimerState.BREACHED:
            found.append(Notice(timer, "breached", warn))
        elif timer.warning != WarningLevel.NONE:
            found.append(Notice(timer, timer.warning.value, warn))
        for name in timer.escalations:
            found.append(Notice(timer, f"escalation:{name}", levels[name].notify))
    return found
