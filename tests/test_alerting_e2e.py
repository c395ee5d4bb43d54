"""Issue 5's alerting contract end to end in one process: FleetService cycles against a real
simulated fleet, a real DuckDB file and a real SMTP server (aiosmtpd on loopback), with an
injected clock so that "15 minutes later" takes no time and every cycle is deterministic."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from console.config import load_config
from console.monitor.maintenance import MaintenanceWindow
from console.monitor.service import FleetService
from console.simconfig import write_sim_config
from console.store.database import Store
from probes.simulator.fleet import Fleet, build_fleet
from tests.smtp import Received, SmtpServer

AFTER_QUIET = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
DELIVERED = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)  # what simconfig writes for every server


class Clock:
    def __init__(self, start: datetime = AFTER_QUIET) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, minutes: float = 15) -> None:
        self.now += timedelta(minutes=minutes)


class Site:
    """A fleet, an SMTP server and a started service on them; `cycle()` is one 15-minute step."""

    def __init__(self, fleet: Fleet, smtp: SmtpServer, service: FleetService, clock: Clock):
        self.fleet = fleet
        self.smtp = smtp
        self.service = service
        self.clock = clock

    async def cycle(self) -> int:
        """Advance the clock, run a full cycle, return how many mails it queued."""
        self.clock.advance()
        batch = await self.service.run_cycle()
        return batch.notifications

    @property
    def inbox(self) -> list[Received]:
        return self.smtp.inbox.messages

    async def outbox(self) -> list[dict[str, Any]]:
        table = await self.service.store.call(
            Store.query, "SELECT kind, server, status, attempts FROM outbox ORDER BY created, key"
        )
        return table.to_pylist()


@pytest.fixture
async def site() -> AsyncIterator[Callable[..., Any]]:
    """make(start=...) -> Site with 4 servers of 4 cameras, failures_before_alert = 3."""
    made: list[tuple[Fleet, SmtpServer, FleetService]] = []
    with tempfile.TemporaryDirectory(prefix="nls-e2e-") as tmp:

        async def make(start: datetime = AFTER_QUIET) -> Site:
            fleet = build_fleet(4, cameras=4, http_port=0, base="127.84.0.1")
            await fleet.start()
            smtp = SmtpServer()
            await smtp.start()
            config = Path(tmp) / f"e2e{len(made)}.toml"
            extra = f'[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\n'
            write_sim_config(config, fleet, installers=2, customers=2, extra=extra)
            clock = Clock(start)
            service = FleetService(load_config(config), clock=clock, schedule=False)
            await service.start()
            made.append((fleet, smtp, service))
            s = Site(fleet, smtp, service, clock)
            assert await s.cycle() == 0  # cameras learnt, all up
            return s

        yield make
        for fleet, smtp, service in made:
            await service.stop()
            await smtp.stop()
            await fleet.stop()


async def test_a_camera_offline_before_cycle_k_mails_once_after_cycle_k_plus_2(site: Any) -> None:
    s: Site = await site()
    s.fleet.set_fault("crest-0002", "camera_offline", camera=1)
    assert await s.cycle() == 0  # k
    assert await s.cycle() == 0  # k + 1
    assert s.inbox == []
    assert await s.cycle() == 1  # k + 2: the third failed check
    (mail,) = await s.smtp.inbox.wait_for(1)
    body = mail.message.get_body(("plain",)).get_content()
    assert "crest-0002" in (mail.message["Subject"] + body).lower()
    assert mail.rcpt_tos and all("@" in r for r in mail.rcpt_tos)
    for _ in range(3):
        assert await s.cycle() == 0  # still failing: no second mail
    assert len(s.inbox) == 1

    s.fleet.heal("crest-0002")
    assert await s.cycle() == 1
    await s.smtp.inbox.wait_for(2)
    assert await s.cycle() == 0
    assert [r["kind"] for r in await s.outbox()] == ["alert", "recovery"]
    assert {r["status"] for r in await s.outbox()} == {"sent"}
    assert len(s.inbox) == 2


async def test_a_server_down_sends_one_mail_not_one_per_camera(site: Any) -> None:
    s: Site = await site()
    s.fleet.set_fault("crest-0003", "port_closed")
    for n in range(3):
        assert await s.cycle() == (1 if n == 2 else 0)
    (mail,) = await s.smtp.inbox.wait_for(1)
    assert "crest-0003" in (mail.message["Subject"] + str(mail.message)).lower()
    for _ in range(2):
        assert await s.cycle() == 0
    assert len(s.inbox) == 1


async def test_several_cameras_failing_together_share_one_mail(site: Any) -> None:
    s: Site = await site()
    for camera in range(4):
        s.fleet.set_fault("crest-0001", "camera_offline", camera=camera)
    counts = [await s.cycle() for _ in range(4)]
    assert counts == [0, 0, 1, 0]
    (mail,) = await s.smtp.inbox.wait_for(1)
    body = mail.message.get_body(("plain",)).get_content()
    assert all(cam.name in body for cam in s.fleet.server("crest-0001").cameras)
    assert len(s.inbox) == 1


async def test_quiet_period_records_but_sends_nothing(site: Any) -> None:
    s: Site = await site(start=DELIVERED + timedelta(days=1))
    s.fleet.set_fault("crest-0002", "camera_offline", camera=0)
    s.fleet.set_fault("crest-0004", "port_closed")
    for _ in range(5):
        assert await s.cycle() == 0
    assert await s.outbox() == [] and s.inbox == []
    rows = {r.server_id: r for r in (await s.service.view().snapshot()).rows}
    assert rows["crest-0002"].quiet_until is not None


async def test_a_maintenance_window_suppresses_mail(site: Any) -> None:
    s: Site = await site()
    view = s.service.view()
    await view.maintenance_add(
        MaintenanceWindow(
            id=0,
            scope_kind="server",
            scope_id="crest-0001",
            reason="switch replacement",
            announced_at=s.clock.now - timedelta(days=2),
            starts=s.clock.now,
            ends=s.clock.now + timedelta(hours=2),
        )
    )
    s.fleet.set_fault("crest-0001", "port_closed")
    for _ in range(5):
        assert await s.cycle() == 0
    assert await s.outbox() == [] and s.inbox == []
    row = next(r for r in (await view.snapshot()).rows if r.server_id == "crest-0001")
    assert row.status == "maintenance"


async def test_mail_queued_while_smtp_is_down_arrives_once_when_it_returns(site: Any) -> None:
    s: Site = await site()
    await s.smtp.stop()
    s.fleet.set_fault("crest-0001", "camera_offline", camera=0)
    s.fleet.set_fault("crest-0003", "port_closed")
    counts = [await s.cycle() for _ in range(3)]
    assert counts == [0, 0, 2]
    rows = await _until_outbox(s, lambda rows: all(r["attempts"] >= 1 for r in rows))
    assert [r["status"] for r in rows] == ["pending", "pending"]

    await s.smtp.start()
    s.clock.advance(minutes=16)  # past the longest backoff so far
    s.service.kick_outbox()  # the worker would find them on its next poll anyway
    await s.smtp.inbox.wait_for(2)
    for _ in range(2):
        await s.cycle()
        s.service.kick_outbox()
    await _until_outbox(s, lambda rows: {r["status"] for r in rows} == {"sent"})
    assert len(s.inbox) == 2
    assert len({m.message["Message-ID"] for m in s.inbox}) == 2
    assert {r["status"] for r in await s.outbox()} == {"sent"}


async def _until_outbox(
    s: Site, done: Callable[[list[dict[str, Any]]], bool], limit: float = 10.0
) -> list[dict[str, Any]]:
    """Poll the outbox table until `done(rows)`; the worker runs on its own task."""
    async with asyncio.timeout(limit):
        while not done(rows := await s.outbox()):  # noqa: ASYNC110 - another task's rows
            await asyncio.sleep(0.02)
    return rows
