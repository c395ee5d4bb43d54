"""Service credits (SAFR terms): failures, claim deadlines, claims in time or late, the cap.

April 2026 in Europe/Brussels: the month ends 2026-04-30 22:00Z (midnight local), so an
availability miss is claimable for 7 calendar days: until 2026-05-07 22:00Z.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from console.reports.credits import (
    TimerBreach,
    claim_deadline,
    credits,
    service_level_failures,
)
from console.reports.exclusions import ExclusionError, claim_credit
from console.sla.terms import AvailabilityTerms
from console.store.database import Store
from tests.availability_data import scope, series, spans, store, utc

APRIL = "2026-04"
SAFR = AvailabilityTerms(
    target_pct=99.9,
    monthly_fee=1000.0,
    credit_pct_per_failure=2.0,
    credit_cap_pct=10.0,
    claim_days=7,
    timer_breach_is_failure=True,
)
SCOPE = scope(("s1", "acme", "inst"))


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "nls.duckdb") as s:
        # 120 min down in April: (43,200 - 120) / 43,200 = 99.7222% < 99.9%
        store(
            s,
            series(
                "s1",
                "server_online",
                utc(2026, 3, 31, 20),
                utc(2026, 4, 30, 22),
                failing=spans((utc(2026, 4, 9, 8), utc(2026, 4, 9, 10))),
            ),
        )
        yield s


def claim(db: Store, failure: str, at: object) -> None:
    claim_credit(
        db,
        customer="acme",
        month=APRIL,
        failure=failure,
        author="ops",
        claimed_at=at,
        now=lambda: utc(2026, 5, 20),
    )  # type: ignore[arg-type]


def test_credit_is_capped(db: Store) -> None:
    breaches = [
        TimerBreach(
            f"INC-{n}/resolution", "acme", utc(2026, 4, 10 + n, 9), "resolution late", "resolution"
        )
        for n in range(6)
    ]
    claim(db, "availability", utc(2026, 5, 2))
    for b in breaches:
        claim(db, b.ref, b.breached_at)
    row = credits(db, SAFR, SCOPE, APRIL, breaches).to_pylist()[0]
    # 7 failures claimed in time x 2% = 14%, capped at 10% of 1,000 EUR
    assert row == {
        "customer": "acme",
        "month": APRIL,
        "availability_pct": 99.7222,
        "target_pct": 99.9,
        "failures": 7,
        "claimed_in_time": 7,
        "claimed_late": 0,
        "unclaimed": 0,
        "failure_refs": "; ".join([*(f"INC-{n}/resolution" for n in range(6)), "availability"]),
        "credit_pct": 10.0,
        "monthly_fee": 1000.0,
        "credit": 100.0,
        "currency": "EUR",
    }


def test_late_claims_earn_nothing(db: Store) -> None:
    breach = TimerBreach(
        "INC-7/first_response", "acme", utc(2026, 4, 12, 10), kind="first_response"
    )
    # the availability miss: deadline 2026-05-07 22:00Z; claimed one minute before
    claim(db, "availability", utc(2026, 5, 7, 21, 59))
    # the breach: deadline 7 days later, 2026-04-19 10:00Z; claimed on the 20th
    claim(db, breach.ref, utc(2026, 4, 20, 9))
    failures = service_level_failures(db, SAFR, SCOPE, APRIL, [breach]).to_pylist()
    assert [(f["failure"], f["claim_deadline"], f["claimed_in_time"]) for f in failures] == [
        ("INC-7/first_response", utc(2026, 4, 19, 10), False),
        ("availability", utc(2026, 5, 7, 22), True),
    ]
    row = credits(db, SAFR, SCOPE, APRIL, [breach]).to_pylist()[0]
    assert (row["claimed_in_time"], row["claimed_late"], row["credit_pct"], row["credit"]) == (
        1,
        1,
        2.0,
        20.0,
    )


def test_unclaimed_failures_and_terms_without_timer_failures(db: Store) -> None:
    breach = TimerBreach("INC-8/resolution", "acme", utc(2026, 4, 12, 10), kind="resolution")
    notice = TimerBreach("INC-8/notify_after", "acme", utc(2026, 4, 13, 10), kind="notify_after")
    row = credits(db, SAFR, SCOPE, APRIL, [breach, notice]).to_pylist()[0]
    assert (row["failures"], row["unclaimed"], row["credit"]) == (2, 2, 0.0)
    texpro = SAFR.model_copy(update={"timer_breach_is_failure": False})
    assert credits(db, texpro, SCOPE, APRIL, [breach]).to_pylist()[0]["failures"] == 1


def test_deadline_is_calendar_days_in_the_policy_zone() -> None:
    # 3 calendar days across the end of DST (2026-10-25): 73 real hours
    start = utc(2026, 10, 23, 10)
    assert claim_deadline(start, 3, "Europe/Brussels") == utc(2026, 10, 26, 11)


def test_a_claim_is_kept_once_with_the_earliest_time(db: Store) -> None:
    first, new = claim_credit(
        db,
        customer="acme",
        month=APRIL,
        failure="availability",
        author="ops",
        claimed_at=utc(2026, 5, 3),
    )
    again, new_again = claim_credit(
        db,
        customer="acme",
        month=APRIL,
        failure="availability",
        author="ops",
        claimed_at=utc(2026, 5, 9),
    )
    assert (new, new_again) == (True, False)
    assert again.claimed_at == first.claimed_at == utc(2026, 5, 3)
    with pytest.raises(ExclusionError, match="--customer 'nope' is not a configured customer"):
        claim_credit(
            db, customer="nope", month=APRIL, failure="x", author="ops", known_customers={"acme"}
        )
