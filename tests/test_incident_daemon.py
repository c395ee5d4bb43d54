"""The incident desk on a real `nls --daemon`: a simulated fault confirmed by the daemon opens
exactly one incident, and neither it nor its mail is lost or doubled by SIGKILLs and restarts;
the daemon's SLA notices reach a real SMTP server once each, across a SIGKILL too. The fleet and
the SMTP server run in the test's loop (tests/test_daemon.py's helpers); no fixed sleeps."""

from __future__ import annotations

import json
import signal
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.test_daemon import DaemonProcess, Site, nls, site

__all__ = ["site"]

TARGETS = (
    "priorities.P1 = {}",
    "priorities.P1 = { first_response = { hours = 1 }, resolution = { hours = 8 } }",
)


def prepare(s: Site) -> None:
    """Timers on the preset's P1 and an ops address for the notices."""
    text = s.config.read_text(encoding="utf-8")
    assert TARGETS[0] in text
    text = text.replace(*TARGETS)
    text = text.replace("[smtp]\n", '[smtp]\nops_address = "ops@visuatech.example"\n', 1)
    s.config.write_text(text, encoding="utf-8")


async def incidents(s: Site) -> list[dict[str, Any]]:
    code, out, err = await nls("--config", str(s.config), "incident", "list", "--json")
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()]


async def events(s: Site, incident: int) -> list[str]:
    code, out, err = await nls(
        "--config", str(s.config), "incident", "show", str(incident), "--json"
    )
    assert code == 0, err
    return [e["kind"] for e in json.loads(out)["events"]]


async def confirming_cycle(daemon: DaemonProcess) -> str:
    """The next cycle line that queued mail."""
    while True:
        line = await daemon.line("event=cycle")
        if "mails=0" not in line:
            return line


async def test_a_confirmed_fault_opens_one_incident_that_survives_sigkill(site: Any) -> None:
    s: Site = await site()
    prepare(s)
    s.fleet.set_fault("crest-0001", "port_closed")
    first = await s.daemon()
    await first.cycles(2)  # strikes 1 and 2: pending, no mail, no incident
    first.send(signal.SIGKILL)
    assert await first.wait() == -signal.SIGKILL
    assert await incidents(s) == []  # embedded now: the daemon is gone

    second = await s.daemon()
    await confirming_cycle(second)  # strike 3, counted from the store: mail and incident
    [opened] = await incidents(s)
    assert (opened["server"], opened["source"], opened["type"], opened["priority"]) == (
        "crest-0001",
        "monitoring",
        "outage",
        "P1",
    )
    await second.cycles(2)  # still down
    second.send(signal.SIGKILL)
    assert await second.wait() == -signal.SIGKILL

    third = await s.daemon()
    await third.cycles(3)
    assert [(i["id"], i["server"], i["status"]) for i in await incidents(s)] == [
        (opened["id"], "crest-0001", "open")
    ]
    assert await events(s, opened["id"]) == ["note"]
    mails = await s.smtp.inbox.wait_for(1)
    await third.cycles(1)
    about = [m for m in s.smtp.inbox.messages if "CREST-0001" in m.message["Subject"]]
    assert len(about) == 1, [m.message["Subject"] for m in mails]

    s.fleet.heal("crest-0001")
    await confirming_cycle(third)  # the recovery mail; the preset resolves the incident
    [resolved] = await incidents(s)
    assert resolved["status"] == "resolved"
    assert await events(s, opened["id"]) == ["note", "note", "resolve"]
    third.send(signal.SIGTERM)
    assert await third.wait() == 0
    assert "Traceback" not in first.log + second.log + third.log


async def test_the_daemons_breach_notices_are_mailed_once_across_a_sigkill(site: Any) -> None:
    s: Site = await site()
    prepare(s)
    first = await s.daemon()
    two_hours_ago = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    code, out, err = await nls(
        "--config", str(s.config), "incident", "open", "--customer", "cust-001",
        "--priority", "P1", "--title", "no video on camera 3", "--at", two_hours_ago,
    )  # fmt: skip
    assert (code, out) == (0, "1\n"), err
    [breached] = await s.smtp.inbox.wait_for(1)  # first response 1 h: breached an hour ago
    subject = breached.message["Subject"]
    assert subject.startswith("[NLS] Incident #1 bij ") and "eerste reactie overschreden" in subject
    assert "ops@visuatech.example" in breached.rcpt_tos
    first.send(signal.SIGKILL)
    assert await first.wait() == -signal.SIGKILL

    second = await s.daemon()  # its start looks for notices again: none is new
    code, out, err = await nls(
        "--config", str(s.config), "incident", "open", "--customer", "cust-002",
        "--priority", "P1", "--at", two_hours_ago,
    )  # fmt: skip
    assert (code, out) == (0, "2\n"), err
    await s.smtp.inbox.wait_for(2)  # the outbox sends in order: a repeat would come first
    await second.cycles(2)
    subjects = [m.message["Subject"] for m in s.smtp.inbox.messages]
    assert len(subjects) == 2, subjects
    assert subjects[1].startswith("[NLS] Incident n° 2 chez ")  # alarmes-wallonie: French
    code, out, err = await nls(
        "--config", str(s.config), "sql",
        "SELECT key FROM outbox WHERE kind = 'incident' ORDER BY key", "--format", "csv",
    )  # fmt: skip
    assert code == 0, err
    assert out.splitlines() == [
        "key",
        "nls-incident-1-first_response:0:breached",
        "nls-incident-2-first_response:0:breached",
    ]
    second.send(signal.SIGTERM)
    assert await second.wait() == 0
