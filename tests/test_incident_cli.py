"""`nls incident` end to end, as separate processes, embedded and attached to a real daemon
(the fixtures of tests/test_cli.py): every command, every bad input of issue 11 (one line, exit
2, nothing written), and monitoring's incident from three `nls check`s. The attached run's
transcript must equal the embedded one's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_cli import Simulator, Site, nls, open_site, sim

__all__ = ["sim"]  # the module's simulator fixture, shared with tests/test_cli.py's design

TARGETS = {
    "priorities.P1 = {}": "priorities.P1 = { first_response = { hours = 1 }, "
    "resolution = { hours = 8 } }",
    "priorities.P2 = {}": "priorities.P2 = { first_response = { hours = 4 }, "
    "next_reply = { hours = 2 } }",
}


@pytest.fixture(params=("embedded", "attached"))
def site(request: pytest.FixtureRequest, sim: Simulator, tmp_path: Path) -> Iterator[Site]:
    """tests/test_cli.py's site, with timers on the visuatech preset's P1 and P2."""

    def edit(text: str) -> str:
        for old, new in TARGETS.items():
            assert old in text
            text = text.replace(old, new)
        return text

    key = f"incident:{request.node.originalname}"
    with open_site(request.param, sim, tmp_path, key, edit) as s:
        yield s


def ok(result: Any) -> Any:
    assert result.code == 0, result.err
    assert result.err == ""
    return result


def at(hhmm: str, day: str = "2026-03-02") -> str:
    return f"{day}T{hhmm}:00+01:00"


def test_every_incident_command(site: Site) -> None:
    opened = ok(
        site.nls(
            "incident", "open", "--customer", "cust-002", "--priority", "P2", "--type",
            "question", "--title", "export to CSV?", "--at", at("09:00"),
        )
    )  # fmt: skip
    assert opened.out == "1\n"
    server = ok(
        site.nls(
            "incident", "open", "--customer", "cust-001", "--priority", "P1", "--server",
            "crest-0001", "--at", at("10:00"),
        )
    )  # fmt: skip
    assert server.out == "2\n"
    for n, (kind, text, when) in enumerate(
        [
            ("reply", "Use nls sql", "10:30"),
            ("customer-message", "Thanks. And PDF?", "11:00"),
            ("waiting", "", "11:15"),
        ],
        start=1,
    ):
        args = ["--text", text] if text else []
        done = ok(site.nls("incident", "event", "1", kind, *args, "--at", at(when)))
        assert done.out == f"incident 1: {kind} recorded (event {n})\n"
    shown = ok(site.nls("incident", "show", "1", "--json", "--now", at("12:00")))
    detail = shown.json_lines()[0]
    assert (detail["id"], detail["status"], detail["type"], detail["source"]) == (
        1,
        "waiting",
        "question",
        "manual",
    )
    assert detail["opened_at"] == "2026-03-02T08:00:00Z" and detail["now"] == "2026-03-02T11:00:00Z"
    assert [(e["seq"], e["kind"], e["text"]) for e in detail["events"]] == [
        (1, "reply", "Use nls sql"),
        (2, "customer-message", "Thanks. And PDF?"),
        (3, "waiting", ""),
    ]
    assert len({e["author"] for e in detail["events"]}) == 1  # this process's OS user
    timers = {t["kind"]: t for t in detail["timers"]}
    assert timers["first_response"]["state"] == "met"
    assert timers["first_response"]["due"] == "2026-03-02T12:00:00Z"
    nxt = timers["next_reply"]
    # 2 h from the 11:00 message, paused since 11:15: 15 min used, due 45 min later so far
    assert (nxt["state"], nxt["warning"], nxt["remaining"]) == ("paused", "none", 6300.0)
    assert nxt["due"] == "2026-03-02T12:45:00Z"  # 10:00Z + 2 h + the 45 min paused so far
    text = ok(site.nls("incident", "show", "2", "--now", at("10:55")))
    lines = text.out.splitlines()
    assert lines[0] == "incident 2: problem from Logistics Hasselt on CREST-0001"
    assert lines[1].startswith("open · problem · priority P1 · customer cust-001")
    first_response = next(line for line in lines if line.startswith("first_response"))
    assert first_response.split()[1:3] == ["running", "urgent"] and " 5m " in first_response
    listed = ok(site.nls("incident", "list", "--open", "--json", "--now", at("12:00")))
    rows = listed.json_lines()
    assert [(r["id"], r["timer"]["kind"], r["timer"]["state"]) for r in rows] == [
        (2, "first_response", "breached"),
        (1, "next_reply", "paused"),
    ]
    breaching = ok(site.nls("incident", "list", "--breaching", "--json", "--now", at("12:00")))
    assert [r["id"] for r in breaching.json_lines()] == [2]
    mine = ok(site.nls("incident", "list", "--installer", "secutec", "--now", at("12:00")))
    assert [line.split()[0] for line in mine.out.splitlines()[2:]] == ["2"]
    theirs = ok(site.nls("incident", "list", "--customer", "cust-002", "--now", at("12:00")))
    table = theirs.out.splitlines()
    assert table[0].split()[:4] == ["ID", "PRIORITY", "STATUS", "CUSTOMER"]
    assert table[2].split()[:3] == ["1", "P2", "waiting"] and "paused" in table[2]
    for kind, text, when in (
        ("resume", "", "13:00"),
        ("priority", "P1", "13:05"),
        ("note", "escalated to second line", "13:10"),
        ("resolve", "", "14:00"),
        ("close", "", "16:00"),
    ):
        args = ["--text", text] if text else []
        ok(site.nls("incident", "event", "1", kind, *args, "--at", at(when)))
    closed = ok(site.nls("incident", "show", "1", "--json", "--now", at("17:00")))
    assert (closed.json_lines()[0]["status"], closed.json_lines()[0]["priority"]) == (
        "closed",
        "P1",
    )
    ok(
        site.nls(
            "incident", "event", "1", "reopen", "--text", "PDF still fails", "--at", at("17:05")
        )
    )
    everything = ok(site.nls("incident", "list", "--json", "--now", at("17:10")))
    assert {r["id"]: r["status"] for r in everything.json_lines()} == {1: "open", 2: "open"}
    stats = ok(site.nls("incident", "stats", "--month", "2026-03", "--json")).json_lines()
    by = {s["customer"]: s for s in stats}
    assert (by["cust-002"]["requests"], by["cust-002"]["questions"]) == (1, 1)
    assert by["cust-002"]["contacts"] == 2 and by["cust-002"]["quota"] is None
    assert by["cust-001"]["timers_breached"] >= 1 and by["cust-002"]["timers_met"] >= 1
    table = ok(site.nls("incident", "stats", "--month", "2026-03"))
    assert table.out.splitlines()[2].startswith("Logistics Hasselt (cust-001)  visuatech")


def test_every_bad_input_is_one_line_exit_2_and_writes_nothing(site: Site) -> None:
    ok(
        site.nls(
            "incident", "open", "--customer", "cust-003", "--priority", "P3", "--at", at("09:00")
        )
    )
    ok(site.nls("incident", "event", "1", "close", "--at", at("10:00")))
    ok(
        site.nls(
            "incident", "open", "--customer", "cust-003", "--priority", "P3", "--at", at("09:00")
        )
    )
    bad: list[tuple[list[str], str]] = [
        (["open", "--customer", "ghost", "--priority", "P1"], "no customer 'ghost'"),
        (
            ["open", "--customer", "cust-003", "--priority", "P9"],
            "unknown priority 'P9' in policy visuatech; known: P1, P2, P3",
        ),
        (["open", "--customer", "cust-003", "--priority", "P1", "--type", "rant"], "rant"),
        (
            ["open", "--customer", "cust-003", "--priority", "P1", "--server", "crest-0001"],
            "server 'crest-0001' belongs to customer 'cust-001', not 'cust-003'",
        ),
        (
            ["open", "--customer", "cust-003", "--priority", "P1", "--at", "2026-03-02T09:00"],
            "--at: '2026-03-02T09:00' has no UTC offset",
        ),
        (
            ["open", "--customer", "cust-003", "--priority", "P1", "--at", "2099-01-01T00:00Z"],
            "is in the future",
        ),
        (["event", "7", "note", "--text", "x"], "no incident 7"),
        (["event", "seven", "note", "--text", "x"], "no incident 'seven'"),
        (["event", "1", "note", "--text", "x"], "the incident is closed: only reopen"),
        (["event", "2", "note"], "an empty note"),
        (["event", "2", "note", "--text", "   "], "an empty note"),
        (["event", "2", "shout"], "unknown event kind 'shout'"),
        (["event", "2", "priority", "--text", "P0"], "unknown priority 'P0'"),
        (["event", "2", "ack", "--at", "yesterday"], "--at: 'yesterday' is not an ISO 8601"),
        (["event", "2", "ack", "--at", at("08:00")], "is before the incident was opened"),
        (["show", "9"], "no incident 9"),
        (["show", "2", "--now", "2026-03-02 12:00"], "--now: '2026-03-02 12:00' has no UTC"),
        (["list", "--customer", "ghost"], "no customer 'ghost'"),
        (["list", "--installer", "ghost"], "no installer 'ghost'"),
        (["list", "--now", "noon"], "--now: 'noon' is not an ISO 8601"),
        (["stats", "--month", "2026-13"], "'2026-13' is not a month"),
        (["stats", "--month", "March"], "'March' is not a month"),
    ]
    for args, words in bad:
        refused = site.nls("incident", *args)
        assert (refused.code, refused.out) == (2, ""), (args, refused)
        assert refused.err.startswith("nls: ") and refused.err.count("\n") == 1, refused.err
        assert words in refused.err and "Traceback" not in refused.err, (args, refused.err)
    rows = ok(site.nls("incident", "list", "--json", "--now", at("12:00"))).json_lines()
    assert [(r["id"], r["status"], r["events"]) for r in rows] == [(2, "open", 0), (1, "closed", 1)]


def test_a_fault_confirmed_by_check_opens_one_incident(site: Site) -> None:
    """(Lists and shows evaluate the timers at the clock here: not compared across modes.)"""
    site.sim.fault("crest-0003", "port_closed")
    for _ in range(3):
        assert site.nls("check", "--server", "crest-0003").code == 1
    rows = ok(site.nls("incident", "list", "--json", compare=False)).json_lines()
    assert len(rows) == 1
    row = rows[0]
    assert (row["server"], row["type"], row["priority"], row["source"], row["opened_by"]) == (
        "crest-0003",
        "outage",
        "P1",
        "monitoring",
        "monitoring",
    )
    assert row["title"] == "CREST-0003: Server niet online"  # limburg-security writes Dutch
    assert row["timer"]["kind"] == "first_response"
    assert site.nls("check", "--server", "crest-0003").code == 1  # still down: nothing new
    shown = ok(site.nls("incident", "show", "1", "--json", compare=False)).json_lines()[0]
    assert [e["kind"] for e in shown["events"]] == ["note"]
    site.sim.heal()
    assert site.nls("check", "--server", "crest-0003").code == 0
    shown = ok(site.nls("incident", "show", "1", "--json", compare=False)).json_lines()[0]
    assert [e["kind"] for e in shown["events"]] == ["note", "note", "resolve"]
    assert shown["status"] == "resolved"  # the visuatech preset resolves on recovery


def test_incident_help_names_every_command() -> None:
    result = nls("incident", "--help")
    assert result.code == 0
    for command in ("open", "event", "show", "list", "stats"):
        assert f"  {command} " in result.out
        assert nls("incident", command, "--help").code == 0
