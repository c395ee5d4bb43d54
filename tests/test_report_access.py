"""The availability desk behind the socket's access boundary (issue 9 rules, issue 12 calls):
clients run as other Unix accounts against a real daemon. An installer's staff get only their
own installer's report rows and exclusions, cannot widen a report to another installer, and may
not exclude, revoke, claim or import; ops may, and are recorded as the author whatever the
client sends."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tests.schedule import QUIET
from tests.test_access import open_site, raw_as, require_users
from tests.test_boundary import add_sections, socket_of
from tests.test_daemon import site
from tests.unixusers import ACCESS, ALPHA, OPS

__all__ = ["site"]
MONTH = "2026-10"
EXCLUDE = {
    "server_id": "crest-0001",
    "starts": "2026-10-10T08:00:00Z",
    "ends": "2026-10-10T09:00:00Z",
    "reason": "customer cut the power",
}
SAMPLE = {
    "line": 2,
    "ts": "2026-10-01T00:00:00Z",
    "server": "crest-0001",
    "check": "server_online",
    "subject": "",
    "state": "ok",
    "value": None,
    "detail": "",
}


def report(kind: str, by: str = "server", installer: str | None = None) -> dict[str, Any]:
    args = {"kind": kind, "month": MONTH, "by": by, "installer_id": installer, "customer_id": None}
    return {"call": "report", "args": args}


async def test_installer_staff_see_their_own_rows_and_may_not_write(site: Any) -> None:
    require_users()
    s, sock = await open_site(site)
    ops = await raw_as(
        OPS,
        sock,
        [
            {"hello": None},
            {"call": "outage_exclude", "args": {**EXCLUDE, "author": "someone-else"}},
            {"call": "outage_exclude", "args": EXCLUDE},
            {"call": "outage_exclude", "args": {**EXCLUDE, "server_id": "crest-0002"}},
            report("availability", "installer"),
        ],
    )
    welcome, forged, mine, other, everything = ops
    assert welcome["r"]["role"] == "ops"
    assert forged["t"] == "error" and forged["e"] == "BadRequest" and "'author'" in forged["msg"]
    assert mine["r"]["author"] == OPS and mine["r"]["id"] == 1, mine
    assert other["r"]["author"] == OPS and other["r"]["id"] == 2
    assert {r["installer"] for r in everything["table"]} == {"secutec", "alarmes-wallonie"}

    alpha = await raw_as(
        ALPHA,
        sock,
        [
            {"hello": None},
            report("availability", "server"),
            report("availability", "installer"),
            report("outages", "server"),
            report("availability", "server", installer="alarmes-wallonie"),
            {"call": "outage_list", "args": {"include_revoked": True}},
            {"call": "outage_exclude", "args": EXCLUDE},
            {"call": "outage_revoke", "args": {"exclusion_id": 1}},
            {
                "call": "credit_claim",
                "args": {
                    "customer_id": "cust-001",
                    "month": MONTH,
                    "failure": "availability",
                    "claimed_at": None,
                },
            },
            {"call": "import_samples", "args": {"samples": [SAMPLE], "commit": True}},
            report("installer_html"),
        ],
    )
    welcome, servers, installers, outages, foreign, listed, *writes, page = alpha
    assert welcome["r"]["installer"] == "secutec"
    assert {r["server"] for r in servers["table"]} == {"crest-0001", "crest-0003"}
    assert [r["installer"] for r in installers["table"]] == ["secutec"]
    assert outages["t"] == "result" and {r["installer"] for r in outages["table"]} <= {"secutec"}
    assert foreign["t"] == "error" and foreign["e"] == "NotFound"
    assert "alarmes-wallonie" in foreign["msg"] and "known: secutec" in foreign["msg"]
    assert [e["server"] for e in listed["r"]] == ["crest-0001"]
    for answer in writes:
        assert answer["t"] == "error" and answer["e"] == "AccessDenied", answer
        assert f"{ALPHA} (staff of installer secutec) may not" in answer["msg"]
    assert "secutec" in page["table"][0]["html"].lower() or "Secutec" in page["table"][0]["html"]
    assert "crest-0002" not in page["table"][0]["html"]
    assert "Traceback" not in s.daemons[0].log


async def test_staff_see_the_breached_timers_of_their_own_customers_only(site: Any) -> None:
    """Credits count the desk's breached timers per customer, scoped like the rest: ops see
    both installers' failures, secutec's staff only cust-001's."""
    require_users()
    s = await site(interval=QUIET)
    add_sections(s.config, ACCESS)
    os.chmod(s.config.parent, 0o755)
    text = s.config.read_text(encoding="utf-8")
    text = text.replace("priorities.P1 = {}", "priorities.P1 = { first_response = { hours = 1 } }")
    text = text.replace(
        "monitoring.resolve_on_recovery = true",
        "monitoring.resolve_on_recovery = true\navailability = { monthly_fee = 1000, "
        "credit_pct_per_failure = 2, credit_cap_pct = 10, timer_breach_is_failure = true }",
    )
    s.config.write_text(text, encoding="utf-8")
    sock = socket_of(await s.daemon())
    opened = datetime.now(UTC) - timedelta(hours=2)  # first response due an hour ago: breached
    month = (opened + timedelta(hours=1)).astimezone(ZoneInfo("Europe/Brussels")).strftime("%Y-%m")
    credits = {
        "call": "report",
        "args": {
            "kind": "credits",
            "month": month,
            "by": "customer",
            "installer_id": None,
            "customer_id": None,
        },
    }
    incident = {"priority": "P1", "server": None, "incident_type": "problem", "title": ""}
    incident["at"] = opened.isoformat()
    ops = await raw_as(
        OPS,
        sock,
        [
            {"hello": None},
            {"call": "incident_open", "args": {"customer": "cust-001", **incident}},
            {"call": "incident_open", "args": {"customer": "cust-002", **incident}},
            credits,
        ],
    )
    assert "table" in ops[-1], ops
    everything = {r["customer"]: r["failure_refs"] for r in ops[-1]["table"]}
    assert everything == {"cust-001": "INC-1/first_response", "cust-002": "INC-2/first_response"}
    alpha = await raw_as(ALPHA, sock, [{"hello": None}, credits])
    assert [(r["customer"], r["failure_refs"]) for r in alpha[-1]["table"]] == [
        ("cust-001", "INC-1/first_response")
    ]
    assert "Traceback" not in s.daemons[0].log
