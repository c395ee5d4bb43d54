"""Service credits end to end (issue 12 item 5 with the incident desk of issue 11), embedded and
attached to a real daemon (the fixtures of tests/test_cli.py; the attached transcript must equal
the embedded one): `nls report credits` counts per customer an availability miss AND each SLA
timer the desk counts as breached in the month (the same count as `nls incident stats`), lists
each failure's reference, and `nls credit claim --failure REF` claims them.

Worked example. cust-001 (crest-0001) is on `safr-fee`: SAFR's credit terms with a monthly fee
of 1,000 EUR (2% per Service Level Failure claimed within 7 days, at most 10%), months in
Europe/Brussels. October 2026:
- availability: crest-0001 down 120 min (tests/test_report_cli.py's history): 99.7315% < 99.9%,
  a failure at the end of the month (2026-10-31 23:00Z), to claim by 2026-11-07 23:00Z;
- incident 1 (high: first response 4 h, an update every 24 h, on a 24/7 clock) opened on the
  12th at 09:00 (07:00Z); the first reply at 14:00 is an hour late (first_response due 11:00Z),
  and the next update, due 24 h after it (13th 12:00Z), comes only with the resolve at 16:00:
  two breached timers, INC-1/first_response and INC-1/periodic_update;
- claims: the availability miss on 3 November and the first response on the 15th (in time), the
  update on the 25th (its deadline was the 20th 12:00Z: late).
Three failures, two claimed in time: 2 x 2% = 4% of 1,000 EUR = 40 EUR.
November (the cap): incident 2 (medium: first response 1 h, an update every hour, resolution
2 h) answered late four times and resolved late: six breached timers, all claimed in time:
6 x 2% = 12%, capped at 10% = 100 EUR; availability is unknown all month, never a miss.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_cli import Simulator, Site, open_site, sim
from tests.test_report_cli import history

__all__ = ["sim"]
POLICY = """
[sla_policies.safr-fee]
description = "SAFR credit terms with a fee (test)"
calendar = { timezone = "Europe/Brussels", hours = "09:00-17:00" }
priorities.high = { first_response = { hours = 4 }, periodic_update = { hours = 24 } }
priorities.medium = { first_response = { hours = 1 }, periodic_update = { hours = 1 }, \
resolution = { hours = 2 } }
monitoring.priorities = { server_online = "high", disk_activity = "high", camera = "medium" }
availability = { monthly_fee = 1000, credit_pct_per_failure = 2, credit_cap_pct = 10, \
claim_days = 7, timer_breach_is_failure = true }
"""


@pytest.fixture(params=("embedded", "attached"))
def site(request: pytest.FixtureRequest, sim: Simulator, tmp_path: Path) -> Iterator[Site]:
    """tests/test_cli.py's site with cust-001 on the `safr-fee` policy."""

    def edit(text: str) -> str:
        first = text.index('id = "cust-001"')  # the first customer: its plan is the next one
        plan = text.index('sla_plan = "visuatech"', first)
        return text[:plan] + 'sla_plan = "safr-fee"' + text[plan + 22 :] + POLICY

    key = f"credits:{request.node.originalname}"
    with open_site(request.param, sim, tmp_path, key, edit) as s:
        yield s


def ok(result: Any) -> Any:
    assert result.code == 0, result.err
    return result


def claim(site: Site, month: str, failure: str, at: str) -> None:
    done = ok(
        site.nls(
            "credit", "claim", "--customer", "cust-001", "--month", month, "--failure", failure,
            "--at", at,
        )
    )  # fmt: skip
    assert done.out.startswith(f"recorded: cust-001 claimed {failure}"), done.out


def events(site: Site, incident: str, steps: list[tuple[str, str]]) -> None:
    for kind, when in steps:
        args = ["--text", "on it"] if kind == "reply" else []
        ok(site.nls("incident", "event", incident, kind, *args, "--at", when))


def credits_of(site: Site, month: str) -> dict[str, Any]:
    done = ok(site.nls("report", "credits", "--month", month, "--format", "json"))
    return {r["customer"]: r for r in json.loads(done.out)}


def test_availability_miss_and_breached_timers_are_failures_claimed_in_time_or_late(
    site: Site,
) -> None:
    ok(site.nls("import", "samples", str(history(site.folder / "h.csv"))))
    opened = ok(
        site.nls(
            "incident", "open", "--customer", "cust-001", "--priority", "high", "--title",
            "no video from the loading bay", "--at", "2026-10-12T09:00:00+02:00",
        )
    )  # fmt: skip
    assert opened.out == "1\n"
    events(
        site,
        "1",
        [("reply", "2026-10-12T14:00:00+02:00"), ("resolve", "2026-10-13T16:00:00+02:00")],
    )
    stats = ok(site.nls("incident", "stats", "--month", "2026-10", "--json")).json_lines()
    assert [(s["customer"], s["timers_breached"]) for s in stats] == [("cust-001", 2)]

    before = credits_of(site, "2026-10")["cust-001"]
    assert before["failure_refs"] == "INC-1/first_response; INC-1/periodic_update; availability"
    assert (before["failures"], before["unclaimed"], before["credit"]) == (3, 3, 0.0)
    table = ok(site.nls("report", "credits", "--month", "2026-10", "--customer", "cust-001"))
    assert "INC-1/first_response; INC-1/periodic_update; availability" in table.out

    claim(site, "2026-10", "availability", "2026-11-03T10:00:00+01:00")
    claim(site, "2026-10", "INC-1/first_response", "2026-10-15T10:00:00+02:00")
    claim(site, "2026-10", "INC-1/periodic_update", "2026-10-25T10:00:00+01:00")
    october = credits_of(site, "2026-10")
    row = october["cust-001"]
    assert {k: row[k] for k in list(row)[4:]} == {
        "failures": 3,
        "claimed_in_time": 2,
        "claimed_late": 1,
        "unclaimed": 0,
        "failure_refs": "INC-1/first_response; INC-1/periodic_update; availability",
        "credit_pct": 4.0,
        "monthly_fee": 1000.0,
        "credit": 40.0,
        "currency": "EUR",
    }
    assert row["availability_pct"] == 99.7315
    assert all(r["failures"] == 0 for c, r in october.items() if c != "cust-001")

    # November: six breached timers of one incident, all claimed in time: capped at 10%
    opened = ok(
        site.nls(
            "incident", "open", "--customer", "cust-001", "--priority", "medium",
            "--at", "2026-11-02T09:00:00+01:00",
        )
    )  # fmt: skip
    assert opened.out == "2\n"
    events(
        site,
        "2",
        [
            ("reply", "2026-11-02T10:30:00+01:00"),  # first_response due 10:00
            ("reply", "2026-11-02T12:00:00+01:00"),  # update due 11:30
            ("reply", "2026-11-02T13:30:00+01:00"),  # update due 13:00
            ("reply", "2026-11-02T15:00:00+01:00"),  # update due 14:30
            ("resolve", "2026-11-02T16:30:00+01:00"),  # update due 16:00, resolution 11:00
        ],
    )
    refs = credits_of(site, "2026-11")["cust-001"]["failure_refs"].split("; ")
    assert refs == [
        "INC-2/first_response",
        "INC-2/resolution",
        "INC-2/periodic_update",
        "INC-2/periodic_update-2",
        "INC-2/periodic_update-3",
        "INC-2/periodic_update-4",
    ]
    for ref in refs:
        claim(site, "2026-11", ref, "2026-11-03T09:00:00+01:00")
    row = credits_of(site, "2026-11")["cust-001"]
    assert (row["failures"], row["claimed_in_time"], row["credit_pct"], row["credit"]) == (
        6,
        6,
        10.0,
        100.0,
    )
    # October is unchanged by November's incident
    assert credits_of(site, "2026-10")["cust-001"]["credit"] == 40.0
