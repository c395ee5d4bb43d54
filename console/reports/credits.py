"""Service credits: a customer's Service Level Failures of a month, their claim deadlines, which
were claimed in time, and the credit owed (SAFR: 2% of the monthly fee per claimed failure, at
most 10%, claimed in writing within 7 days; issued the month after).

A Service Level Failure is a month whose availability missed its target and, where the policy
says so (`timer_breach_is_failure`), each breached timer of the incident desk; the desk hands
those in as `TimerBreach`es, so credits do not depend on how incidents are stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from console.reports.accounting import availability
from console.reports.exclusions import claims
from console.reports.period import Month, zoneinfo
from console.reports.scope import Scope, Terms, terms_lookup

AVAILABILITY_FAILURE = "availability"


@dataclass(frozen=True, slots=True)
class TimerBreach:
    """One breached SLA timer of the incident desk: `ref` is what a claim names."""

    ref: str
    customer: str
    breached_at: datetime
    what: str = ""
    kind: str = ""
    """The timer's kind (first_response, resolution, ...): the policy says which kinds count."""


FAILURE_SCHEMA = pa.schema(
    [
        ("customer", pa.string()),
        ("month", pa.string()),
        ("failure", pa.string()),
        ("kind", pa.string()),  # availability | timer
        ("detail", pa.string()),
        ("occurred_at", pa.timestamp("us", tz="UTC")),
        ("claim_deadline", pa.timestamp("us", tz="UTC")),
        ("claimed_at", pa.timestamp("us", tz="UTC")),
        ("claimed_in_time", pa.bool_()),
    ]
)
CREDIT_SCHEMA = pa.schema(
    [
        ("customer", pa.string()),
        ("month", pa.string()),
        ("availability_pct", pa.float64()),
        ("target_pct", pa.float64()),
        ("failures", pa.int64()),
        ("claimed_in_time", pa.int64()),
        ("claimed_late", pa.int64()),
        ("unclaimed", pa.int64()),
        ("failure_refs", pa.string()),  # what `nls credit claim --failure` names, "; " apart
        ("credit_pct", pa.float64()),
        ("monthly_fee", pa.float64()),
        ("credit", pa.float64()),
        ("currency", pa.string()),
    ]
)


def claim_deadline(occurred_at: datetime, days: int, zone: str) -> datetime:
    """`days` calendar days after the failure, wall-clock in the policy zone (71 or 73 real
    hours across a DST change for 3 days)."""
    local = occurred_at.astimezone(zoneinfo(zone))
    return (
        (local.replace(tzinfo=None) + timedelta(days=days))
        .replace(tzinfo=zoneinfo(zone))
        .astimezone(UTC)
    )


def service_level_failures(
    con: Any,
    terms: Terms,
    scope: Scope,
    month: Month | str,
    breaches: Sequence[TimerBreach] = (),
    *,
    availability_rows: pa.Table | None = None,
) -> pa.Table:
    """Each customer's failures of the month with deadline and claim (one row per failure)."""
    month = month if isinstance(month, Month) else Month.parse(month)
    terms_of = terms_lookup(terms)
    rows = availability_rows
    if rows is None:
        rows = availability(con, terms, scope, month, by="customer")
    zone_of = {s.customer: s.zone(terms_of(s.customer)) for s in scope.subjects}
    filed = {(c.customer, c.failure): c for c in claims(con, month=month)}
    found: list[dict[str, Any]] = []
    for r in rows.to_pylist():
        if r["met"]:
            continue
        customer = r["customer"]
        end = month.bounds(zone_of[customer])[1]
        found.append(
            _failure(
                customer,
                month,
                AVAILABILITY_FAILURE,
                "availability",
                f"availability {r['availability_pct']:.4f}% < target {r['target_pct']:g}%",
                end,
                terms_of(customer).claim_days,
                zone_of[customer],
                filed,
            )
        )
    for b in breaches:
        if b.customer not in zone_of or not terms_of(b.customer).counts_breach(b.kind):
            continue
        zone = zone_of[b.customer]
        start, end = month.bounds(zone)
        if not start <= b.breached_at < end:
            continue
        found.append(
            _failure(
                b.customer,
                month,
                b.ref,
                "timer",
                b.what or "SLA timer breached",
                b.breached_at.astimezone(UTC),
                terms_of(b.customer).claim_days,
                zone,
                filed,
            )
        )
    found.sort(key=lambda f: (f["customer"], f["occurred_at"], f["failure"]))
    return pa.Table.from_pylist(found, schema=FAILURE_SCHEMA)


def credits(
    con: Any,
    terms: Terms,
    scope: Scope,
    month: Month | str,
    breaches: Sequence[TimerBreach] = (),
) -> pa.Table:
    """Per customer in scope: failures, how many were claimed in time, and the credit:
    credit_pct_per_failure of the monthly fee per failure claimed in time, capped at
    credit_cap_pct (0 = no cap)."""
    month = month if isinstance(month, Month) else Month.parse(month)
    terms_of = terms_lookup(terms)
    rows = availability(con, terms, scope, month, by="customer")
    failures = service_level_failures(
        con, terms, scope, month, breaches, availability_rows=rows
    ).to_pylist()
    out = []
    for r in rows.to_pylist():
        customer = r["customer"]
        t = terms_of(customer)
        mine = [f for f in failures if f["customer"] == customer]
        in_time = sum(1 for f in mine if f["claimed_in_time"])
        late = sum(1 for f in mine if f["claimed_in_time"] is False)
        pct = in_time * t.credit_pct_per_failure
        if t.credit_cap_pct > 0:
            pct = min(pct, t.credit_cap_pct)
        out.append(
            {
                "customer": customer,
                "month": str(month),
                "availability_pct": r["availability_pct"],
                "target_pct": r["target_pct"],
                "failures": len(mine),
                "claimed_in_time": in_time,
                "claimed_late": late,
                "unclaimed": len(mine) - in_time - late,
                "failure_refs": "; ".join(f["failure"] for f in mine),
                "credit_pct": round(pct, 4),
                "monthly_fee": t.monthly_fee,
                "credit": round(t.monthly_fee * pct / 100, 2),
                "currency": t.currency,
            }
        )
    return pa.Table.from_pylist(out, schema=CREDIT_SCHEMA)


def _failure(
    customer: str,
    month: Month,
    ref: str,
    kind: str,
    detail: str,
    occurred: datetime,
    days: int,
    zone: str,
    filed: dict[tuple[str, str], Any],
) -> dict[str, Any]:
    deadline = claim_deadline(occurred, days, zone)
    claim = filed.get((customer, ref))
    return {
        "customer": customer,
        "month": str(month),
        "failure": ref,
        "kind": kind,
        "detail": detail,
        "occurred_at": occurred,
        "claim_deadline": deadline,
        "claimed_at": claim.claimed_at if claim else None,
        "claimed_in_time": None if claim is None else claim.claimed_at <= deadline,
    }
