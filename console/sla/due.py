"""`nls sla due`: when one timer of a policy is due for an incident opened at a given time.

What ops answer on the phone ("when will you get back to us?"). It reads only the SLA tables
of the configuration, so it needs neither the database nor any secret and runs beside a daemon
or on a laptop.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from console.sla.calendar import parse_instant
from console.sla.policy import (
    TIMER_KINDS,
    Catalog,
    SlaInputError,
    catalog_of,
    load_sla_settings,
    require_kind,
)
from console.sla.timers import due_instant


@dataclass(frozen=True, slots=True)
class DueAnswer:
    policy: str
    priority: str
    timer: str
    target: str
    opened: datetime
    due: datetime
    zone: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "priority": self.priority,
            "timer": self.timer,
            "opened": _utc(self.opened),
            "due": _utc(self.due),
            "due_local": self.local_due.isoformat(),
            "zone": self.zone,
            "target": self.target,
        }

    @property
    def local_due(self) -> datetime:
        from zoneinfo import ZoneInfo

        return self.due.astimezone(ZoneInfo(self.zone))

    def line(self) -> str:
        return (
            f"{self.policy} {self.priority} {self.timer} ({self.target}): due "
            f"{self.local_due.isoformat(timespec='minutes')} {self.zone} "
            f"({_utc(self.due)})"
        )


def _utc(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def answer_due(
    catalog: Catalog, policy_name: str, priority: str, opened: str, kind: str | None
) -> list[DueAnswer]:
    """One answer per timer the priority has (or just `kind`). Unknown names, a time without
    an offset, or a kind the priority has no target for raise SlaInputError."""
    policy = catalog.require(policy_name)
    policy.require_priority(priority)
    if kind is not None:
        require_kind(kind)
    try:
        start = parse_instant(opened)
    except ValueError as exc:
        raise SlaInputError(f"--opened: {exc}") from None
    kinds = [kind] if kind else [k for k in TIMER_KINDS if policy.target(priority, k)]
    answers = []
    for name in kinds:
        target = policy.target(priority, name)
        due = due_instant(policy, priority, name, start)
        if target is None or due is None:
            have = [k for k in TIMER_KINDS if policy.target(priority, k)]
            raise SlaInputError(
                f"policy {policy_name} has no {name} target at priority {priority}; "
                f"its targets: {', '.join(have) or '(none)'}"
            )
        zone = target.calendar.zone
        answers.append(DueAnswer(policy_name, priority, name, target.describe(), start, due, zone))
    return answers


def due_from_config(
    source: str | Path | None, policy: str, priority: str, opened: str, kind: str | None
) -> list[DueAnswer]:
    return answer_due(catalog_of(load_sla_settings(source)), policy, priority, opened, kind)
