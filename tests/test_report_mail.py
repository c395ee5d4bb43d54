"""The daemon mails each installer's monthly availability report on the 1st and a weekly summary
for plans that include one, through the outbox: a real daemon process on an injected clock (a
file the test writes), a real SMTP server (aiosmtpd), a SIGKILL and an SMTP outage.

History: October 2026 for crest-0001 (secutec, customer cust-001 on the Otter Premium plan, which
includes the weekly summary) and crest-0002 (alarmes-wallonie, cust-002); crest-0001 fails from
08:00 to 10:00 UTC on 10 October and from 09:00 to 09:30 UTC on Wednesday 28 October (week 44):
150 min. cust-001 also owns crest-0003 (no history: unknown, never downtime), so its October is
(2 x 44,700 - 150) / (2 x 44,700) = 99.8322% of Brussels minutes.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.test_daemon import NLS, ROOT, DaemonProcess, Site, _env, nls, site

__all__ = ["site"]

STAND_IN = """
import asyncio, sys
from datetime import datetime
from pathlib import Path
from console.config import load_config
from console.daemon.process import Daemon
from console.daemon.runtime import setup_logging

clock_file = Path(sys.argv[2])

def clock():
    return datetime.fromisoformat(clock_file.read_text().strip())

setup_logging("info")
sys.exit(asyncio.run(Daemon(load_config(sys.argv[1]), clock=clock, report_poll=0.2).run()))
"""
PREMIUM = """
[sla_policies.otter-premium]
description = "Otter Premium"
calendar = { timezone = "Europe/Brussels", hours = "08:00-18:00" }
priorities.P1 = {}
availability = { weekly_summary = true }
"""


class ClockedDaemon(DaemonProcess):
    """The daemon on a clock read from a file, so the test decides what day it is."""

    def __init__(self, config: Path, clock: Path) -> None:
        super().__init__(config)
        self.clock = clock

    async def start(self) -> DaemonProcess:
        self.proc = await asyncio.create_subprocess_exec(
            *NLS[:1],
            "-c",
            STAND_IN,
            str(self.config),
            str(self.clock),
            cwd=ROOT,
            env=_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self._reader = asyncio.create_task(self._read())
        self.ready = await self.line("event=ready")
        return self


def history(path: Path) -> Path:
    lines = ["ts,server,check,subject,state,value,detail"]
    t = datetime(2026, 9, 30, 20, tzinfo=UTC)
    down = [
        (datetime(2026, 10, 10, 8, tzinfo=UTC), datetime(2026, 10, 10, 10, tzinfo=UTC)),
        (datetime(2026, 10, 28, 9, tzinfo=UTC), datetime(2026, 10, 28, 9, 30, tzinfo=UTC)),
    ]
    while t < datetime(2026, 11, 2, 1, tzinfo=UTC):
        for server in ("crest-0001", "crest-0002"):
            fail = server == "crest-0001" and any(a <= t < b for a, b in down)
            stamp = t.isoformat().replace("+00:00", "Z")
            lines.append(f"{stamp},{server},server_online,,{'fail' if fail else 'ok'},,")
        t += timedelta(minutes=15)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def logged(daemon: DaemonProcess, needle: str) -> str:
    """The first line with `needle`, read or not yet (lines come in any order)."""
    if not any(needle in line for line in daemon.lines):
        await daemon.line(needle, limit=60)
    return next(line for line in daemon.lines if needle in line)


async def outbox(config: Path) -> list[dict[str, Any]]:
    code, out, err = await nls("mail", "list", "--format", "json", "--config", str(config))
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()]


async def test_monthly_reports_and_the_weekly_summary_are_mailed_once(site: Any) -> None:
    s: Site = await site(interval="24h")
    text = s.config.read_text(encoding="utf-8")
    head, _, tail = text.partition('id = "cust-001"')
    tail = tail.replace('sla_plan = "visuatech"', 'sla_plan = "otter-premium"', 1)
    s.config.write_text(head + 'id = "cust-001"' + tail + PREMIUM, encoding="utf-8")
    code, out, err = await nls(
        "import", "samples", str(history(s.config.parent / "h.csv")), "--config", str(s.config)
    )
    assert code == 0 and out.startswith("imported "), err

    # Monday 2 November 2026, 09:00 in Brussels; the SMTP server answers 451 to every message.
    clock = s.config.parent / "clock"
    clock.write_text("2026-11-02T08:00:00+00:00")
    s.smtp.inbox.reply = "451 4.3.0 mailbox busy, try later"
    daemon = ClockedDaemon(s.config, clock)
    s.daemons.append(daemon)
    await daemon.start()
    await daemon.line("event=report_queued", limit=60)
    await daemon.line("event=report_queued", limit=60)
    await daemon.line("event=report_queued", limit=60)

    async def queued() -> list[dict[str, Any]]:
        return [m for m in await outbox(s.config) if m["kind"] == "report"]

    subjects = {
        "[NLS] Beschikbaarheidsrapport 2026-10 - Secutec Beveiliging",
        "[NLS] Rapport de disponibilité 2026-10 - Alarmes Wallonie SPRL",
        "[NLS] Weekoverzicht 2026-W44 - Secutec Beveiliging",
    }
    assert {m["subject"] for m in await queued()} == subjects
    for _ in subjects:  # every one tried and refused (451): still pending
        assert "451" in await daemon.line("attempt 1 failed", limit=60)
    assert {m["status"] for m in await queued()} == {"pending"}
    assert not s.smtp.inbox.messages

    # Killed outright, restarted a day later with the SMTP server back: the outbox delivers
    # each report once, and nothing is queued again.
    daemon.send(signal.SIGKILL)
    await daemon.wait()
    s.smtp.inbox.reply = None
    clock.write_text("2026-11-03T08:00:00+00:00")
    again = ClockedDaemon(s.config, clock)
    s.daemons.append(again)
    await again.start()
    # sent while it starts, before or after its ready line: looked for in the whole log
    for key in (
        "monthly:alarmes-wallonie:2026-10",
        "monthly:secutec:2026-10",
        "weekly:secutec:2026-W44",
    ):
        await logged(again, f"report:{key}: sent to ")
    mails = await s.smtp.inbox.wait_for(3)
    assert "queued=0" in await logged(again, "event=reports_checked")
    assert "event=report_queued" not in again.log
    by_subject = {m.message["Subject"]: m for m in mails}
    assert set(by_subject) == subjects
    monthly = by_subject["[NLS] Beschikbaarheidsrapport 2026-10 - Secutec Beveiliging"]
    assert monthly.rcpt_tos == ["alerts@secutec.example"]
    plain = monthly.message.get_body(("plain",))
    page = monthly.message.get_body(("html",))
    assert plain is not None and page is not None
    assert "Beste Secutec Beveiliging" in plain.get_content()
    assert "99.8322% (doel 99.9%, niet gehaald)" in plain.get_content()
    assert "<svg" in page.get_content() and "crest-0001" in page.get_content()
    french = by_subject["[NLS] Rapport de disponibilité 2026-10 - Alarmes Wallonie SPRL"]
    assert (
        "100.0000 % (objectif 99.9 %, atteint)" in french.message.get_body(("plain",)).get_content()
    )
    weekly = by_subject["[NLS] Weekoverzicht 2026-W44 - Secutec Beveiliging"].message
    body = weekly.get_body(("plain",)).get_content()
    assert "crest-0001 server_online: 2026-10-28 10:00, 30 min (counted)" in body
    assert "crest-0003" not in body  # cust-001's only server with history is crest-0001

    # Still inside the catch-up window, a third start queues and sends nothing more.
    await again.kill()
    clock.write_text("2026-11-04T08:00:00+00:00")
    third = ClockedDaemon(s.config, clock)
    s.daemons.append(third)
    await third.start()
    assert "queued=0" in await logged(third, "event=reports_checked")
    assert len(s.smtp.inbox.messages) == 3
    assert {m["status"] for m in await queued()} == {"sent"}
    for d in s.daemons:
        assert "Traceback" not in d.log, d.log
