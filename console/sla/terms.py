"""Availability terms of an SLA policy: what a month of monitoring is measured against.

Shared contract between the policy configuration (`[sla_policies.NAME.availability]`) and the
availability accounting in `console/reports/`: the accounting only ever sees this model, so a
contract is expressed as data and a past month can be recomputed with the terms it had.
"""

from __future__ import annotations

import re
from datetime import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

_HHMM_RANGE = re.compile(r"^\s*([01]\d|2[0-3]):([0-5]\d)\s*-\s*([01]\d|2[0-4]):([0-5]\d)\s*$")


TimerKind = Literal["first_response", "next_reply", "periodic_update", "resolution", "notify_after"]


class MaintenanceRule(BaseModel):
    """When an announced maintenance window excuses the downtime inside it (Texpro: announced at
    least 5 days before it starts and inside 23:00-07:00). A window that breaks a rule counts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    notice_days: float = Field(0, ge=0, le=365)
    # Wall-clock hours in the policy zone, e.g. "23:00-07:00" (may wrap midnight); None: any time.
    allowed_hours: str | None = None

    @field_validator("allowed_hours")
    @classmethod
    def _hours(cls, value: str | None) -> str | None:
        if value is not None and not _HHMM_RANGE.match(value):
            raise ValueError(f"{value!r} is not a range of hours such as 23:00-07:00")
        return value

    def hours(self) -> tuple[time, time] | None:
        """(start, end) wall-clock times; end <= start means the range wraps midnight."""
        if self.allowed_hours is None:
            return None
        m = _HHMM_RANGE.match(self.allowed_hours)
        assert m is not None
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        return time(h1, m1), time(0, 0) if h2 == 24 else time(h2, m2)


class AvailabilityTerms(BaseModel):
    """A month's availability promise and the credits owed when it is missed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target_pct: float = Field(99.9, gt=0, le=100)
    # IANA zone whose calendar months are reported; None: the policy calendar's zone.
    timezone: str | None = None
    # Which checks count as downtime, per subject kind: a server row and a camera row.
    server_checks: tuple[str, ...] = ("server_online",)
    camera_checks: tuple[str, ...] = ("camera",)
    # Excused time stays in the denominator (AWS, Google, Microsoft) unless "denominator".
    excluded_from: Literal["numerator", "denominator"] = "numerator"
    maintenance: MaintenanceRule = MaintenanceRule()
    # Service credits (SAFR): a share of the monthly fee per claimed Service Level Failure.
    monthly_fee: float = Field(0, ge=0)
    currency: str = "EUR"
    credit_pct_per_failure: float = Field(0, ge=0, le=100)
    credit_cap_pct: float = Field(0, ge=0, le=100)
    claim_days: int = Field(7, ge=0, le=365)
    # Whether each breached incident timer is a Service Level Failure too (SAFR: yes), and of
    # which kinds: notify_after is a notice the contract obliges, not a promise to the customer,
    # so its running out is no failure unless a policy lists it.
    timer_breach_is_failure: bool = False
    failure_timers: tuple[TimerKind, ...] = (
        "first_response",
        "next_reply",
        "periodic_update",
        "resolution",
    )
    # Latency promise for web checks (Texpro: 95% of page loads within 3 s).
    latency_percentile: float = Field(95, gt=0, lt=100)
    latency_target_ms: float | None = Field(None, gt=0)
    # A weekly availability summary mailed to the installer (Otter Premium includes one).
    weekly_summary: bool = False

    def counts_breach(self, kind: str) -> bool:
        """Whether a breached timer of this kind is a Service Level Failure (a credit)."""
        return self.timer_breach_is_failure and kind in self.failure_timers
