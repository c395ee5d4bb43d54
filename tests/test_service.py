"""FleetService end to end in one process: a real simulated fleet (HTTP, SSH, RDP), a real DuckDB
file and a real SMTP server; cycles are driven explicitly and the clock is injected."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from string import Template
from typing import Any

import pytest

from console.config import load_config
from console.directory import Directory
from console.errors import NotFound
from console.fleetview import AccessDenied
from console.mail.notify import templates
from console.monitor.engine import utcnow
from console.monitor.maintenance import MaintenanceWindow
from console.monitor.service import FleetService, phase
from console.simconfig import write_sim_config
from console.store.database import ReadOnlyError, Store
from probes.simulator.fleet import Fleet, build_fleet
from probes.simulator.hosts import add_host_protocols
from tests.smtp import SmtpServer


class Clock:
    """Fifteen minutes pass between cycles, without waiting for them."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, minutes: float = 15) -> None:
        self.now += timedelta(minutes=minutes)


@pytest.fixture
async def sim_fleet() -> AsyncIterator[tuple[Fleet, str]]:
    fleet = build_fleet(6, cameras=5, http_port=0, base="127.81.0.1")
    key = add_host_protocols(fleet, ssh_port=0, rdp_port=0)
    await fleet.start()
    yield fleet, key
    await fleet.stop()


@pytest.fixture
def make_service(sim_fleet: tuple[Fleet, str], tmp_path: Path) -> Callable[..., Any]:
    """make(extra=..., clock=...) -> a started FleetService; each test stops its own."""

    async def make(
        extra: str = "", clock: Clock | None = None, monitor: str = "", **options: Any
    ) -> FleetService:
        fleet, key = sim_fleet
        path = write_sim_config(
            tmp_path / "nls.toml", fleet, host_key=key, installers=2, customers=4, extra=extra
        )
        text = path.read_text().replace(
            'interval = "15m"', f'interval = "15m"\nsample_window = "1s"\n{monitor}'
        )
        path.write_text(text)
        options.setdefault("schedule", False)
        service = FleetService(load_config(path), clock=clock or Clock(), **options)
        await service.start()
        return service

    return make


async def test_snapshot_after_a_cycle_shows_every_server_up(make_service: Any) -> None:
    service = await make_service()
    try:
        await service.run_cycle()
        snapshot = await service.view().snapshot()
        assert len(snapshot.rows) == 6
        assert {r.status for r in snapshot.rows} == {"up"}
        row = snapshot.rows[0]
        assert row.cameras_total == 5 and row.cameras_online == 5
        assert row.cpu_pct is not None and 0 < row.cpu_pct < 98
        assert row.disk_write_bps is not None and row.disk_write_bps > 4096
        assert snapshot.counts.up == 6 and snapshot.counts.cameras_offline == 0
    finally:
        await service.stop()


async def test_live_updates_carry_the_batch_rows(
    make_service: Any, sim_fleet: tuple[Fleet, str]
) -> None:
    fleet, _ = sim_fleet
    clock = Clock()
    service = await make_service(clock=clock)
    try:
        await service.run_cycle()
        view = service.view()
        updates = view.updates().__aiter__()
        fleet.set_fault("crest-0002", "camera_offline", camera=1)
        fleet.set_fault("crest-0003", "host_down")
        clock.advance()
        pending = asyncio.ensure_future(updates.__anext__())
        await service.run_cycle(["crest-0002", "crest-0003"])
        rows = {r.server_id: r for r in await asyncio.wait_for(pending, 10)}
        assert set(rows) == {"crest-0002", "crest-0003"}
        assert rows["crest-0002"].status == "pending", "one failed check is not yet a problem"
        assert rows["crest-0002"].cameras_online == 4
        assert rows["crest-0002"].failing[0].check == "camera"
        assert rows["crest-0003"].status == "pending"
        assert rows["crest-0003"].cameras_online is None
        for _ in range(2):
            clock.advance()
            await service.run_cycle(["crest-0002", "crest-0003"])
        rows = {r.server_id: r for r in (await view.snapshot()).rows}
        assert rows["crest-0002"].status == "problem", "the third failed check confirms it"
        assert rows["crest-0003"].status == "down"
        counts = (await view.snapshot()).counts
        assert (counts.problem, counts.down, counts.pending) == (1, 1, 0)
        await view.close()
    finally:
        await service.stop()


async def test_installer_scope_hides_other_installers(make_service: Any) -> None:
    service = await make_service()
    try:
        await service.run_cycle()
        everything = await service.view().snapshot()
        installers = {r.installer_id for r in everything.rows}
        assert len(installers) == 2
        mine = sorted(installers)[0]
        view = service.view(mine)
        rows = (await view.snapshot()).rows
        assert rows and {r.installer_id for r in rows} == {mine}
        other = next(r.server_id for r in everything.rows if r.installer_id != mine)
        with pytest.raises(KeyError):
            await view.server_detail(other)
        with pytest.raises(KeyError):
            await view.history(other, "cpu", datetime(2026, 1, 1, tzinfo=UTC))
        with pytest.raises(AccessDenied):
            await view.sql("SELECT 1")
        with pytest.raises(KeyError):
            service.view("nobody")
    finally:
        await service.stop()


async def test_detail_history_and_sql(make_service: Any, sim_fleet: tuple[Fleet, str]) -> None:
    fleet, _ = sim_fleet
    clock = Clock()
    service = await make_service(clock=clock)
    try:
        for _ in range(3):
            await service.run_cycle()
            clock.advance()
        fleet.set_fault("crest-0001", "camera_offline", camera=0)
        await service.run_cycle()
        view = service.view()
        detail = await view.server_detail("crest-0001")
        assert len(detail.cameras) == 5
        assert detail.cameras[0].state == "fail"  # failing cameras first
        assert {s.check for s in detail.latest} >= {"server_online", "cpu", "disk_activity"}
        assert detail.availability["server_online"] == 1.0
        assert detail.facts["platform"] in {"windows", "linux"}
        cpu = await view.history("crest-0001", "cpu", clock.now - timedelta(days=1))
        hourly = await view.sql(
            "SELECT date_trunc('hour', ts) AS ts, avg(value) AS value FROM samples "
            "WHERE server = 'crest-0001' AND check_name = 'cpu' GROUP BY 1 ORDER BY 1"
        )
        # hourly averages from the rollups, equal to the raw samples they summarise
        assert [t for t, _ in cpu] == [r["ts"] for r in hourly.to_pylist()]
        assert [v for _, v in cpu] == pytest.approx([r["value"] for r in hourly.to_pylist()])
        table = await view.sql("SELECT count(*) AS n FROM samples WHERE server = 'crest-0001'")
        assert table.to_pylist() == [{"n": 4 * 9}]  # online, 5 cameras, rights, cpu, disk
        with pytest.raises(ReadOnlyError):
            await view.sql("DELETE FROM samples")
    finally:
        await service.stop()


async def test_three_strikes_one_grouped_mail_then_recovery(
    make_service: Any, sim_fleet: tuple[Fleet, str]
) -> None:
    fleet, _ = sim_fleet
    clock = Clock()
    async with SmtpServer() as smtp:
        extra = f'[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\n'
        service = await make_service(extra=extra, clock=clock)
        try:
            await service.run_cycle()
            for camera in (0, 2, 3):
                fleet.set_fault("crest-0004", "camera_offline", camera=camera)
            for n in range(3):
                clock.advance()
                batch = await service.run_cycle()
                assert batch.notifications == (1 if n == 2 else 0)
            messages = await smtp.inbox.wait_for(1)
            server = fleet.server("crest-0004")
            failed = [server.cameras[c].name for c in (0, 2, 3)]
            config = service.config
            target = next(s for s in config.servers if s.id == "crest-0004")
            customer, installer = Directory(config).owners(target)
            words = templates(installer.language)
            names = {
                "tag": "NLS",
                "customer_name": customer.name,
                "server_name": "CREST-0004",
                "count": "3",
            }
            alert = messages[0].message
            body = alert.get_body(("plain",)).get_content()
            assert alert["Subject"] == Template(words["subject"]["alert_many"]).substitute(names)
            # One mail, one item per failed camera, and nothing about the healthy one.
            label = words["checks"]["camera"] + words["units"]["label_separator"]
            for name in failed:
                assert body.count(f"* {label}{name}") == 1, (name, body)
            assert server.cameras[1].name not in body
            assert len(smtp.inbox.messages) == 1
            fleet.heal("crest-0004")
            clock.advance()
            batch = await service.run_cycle()
            assert batch.notifications == 1
            recovered = (await smtp.inbox.wait_for(2))[1].message
            assert recovered["Subject"] == Template(words["subject"]["recovery_many"]).substitute(
                names
            )
            # The console can read both mails back, bodies included, as they were sent.
            view = service.view()
            sent = {m.kind: m for m in await view.outbox()}
            mail = await view.mail(sent["alert"].key)
            assert mail.row.status == "sent" and mail.body_text.replace("\r\n", "\n") in (
                body.replace("\r\n", "\n")
            )
            assert all(name in mail.body_html for name in failed)
        finally:
            await service.stop()
        with Store(service.config.database_path, read_only=True) as store:
            rows = store.query("SELECT kind, status FROM outbox ORDER BY created").to_pylist()
        assert rows == [{"kind": "alert", "status": "sent"}, {"kind": "recovery", "status": "sent"}]


async def test_maintenance_window_suppresses_mail_and_shows(
    make_service: Any, sim_fleet: tuple[Fleet, str]
) -> None:
    fleet, _ = sim_fleet
    clock = Clock()
    service = await make_service(clock=clock)
    try:
        view = service.view()
        window = await view.maintenance_add(
            MaintenanceWindow(
                id=0,
                scope_kind="server",
                scope_id="crest-0005",
                reason="disk replacement",
                announced_at=clock.now - timedelta(days=6),
                starts=clock.now,
                ends=clock.now + timedelta(hours=3),
            )
        )
        assert window.id > 0
        fleet.set_fault("crest-0005", "port_closed")
        for _ in range(4):
            batch = await service.run_cycle()
            assert batch.notifications == 0
            clock.advance()
        row = next(r for r in (await view.snapshot()).rows if r.server_id == "crest-0005")
        assert row.status == "maintenance" and "disk replacement" in row.note
        assert [w.id for w in await view.maintenance_list()] == [window.id]
        await view.maintenance_remove(window.id)
        assert await view.maintenance_list() == []
        with pytest.raises(NotFound, match="no server 'ghost'"):
            await view.maintenance_add(
                MaintenanceWindow(
                    id=0,
                    scope_kind="server",
                    scope_id="ghost",
                    reason="x",
                    announced_at=clock.now,
                    starts=clock.now,
                    ends=clock.now + timedelta(hours=1),
                )
            )
    finally:
        await service.stop()


async def test_restart_resumes_alert_counts_from_the_store(
    make_service: Any, sim_fleet: tuple[Fleet, str]
) -> None:
    fleet, _ = sim_fleet
    clock = Clock()
    service = await make_service(clock=clock)
    fleet.set_fault("crest-0006", "http_500")
    try:
        for _ in range(2):
            assert (await service.run_cycle()).notifications == 0
            clock.advance()
    finally:
        await service.stop()
    again = await make_service(clock=clock)
    try:
        assert (await again.run_cycle()).notifications == 1, "third strike after a restart"
        clock.advance()
        assert (await again.run_cycle()).notifications == 0, "no second alert"
    finally:
        await again.stop()


def test_phase_is_stable_and_spreads_servers() -> None:
    slots = [phase(f"crest-{n:04d}", 90) for n in range(1000)]
    assert phase("crest-0001", 90) == slots[1]
    assert max(slots.count(s) for s in set(slots)) < 30
    assert len(set(slots)) == 90


async def test_retry_interval_rechecks_an_unconfirmed_failure_sooner(
    make_service: Any, sim_fleet: tuple[Fleet, str]
) -> None:
    fleet, _ = sim_fleet
    clock = Clock()
    service = await make_service(clock=clock, schedule=True, monitor='retry_interval = "2m"')
    try:
        assert service._scheduler is not None
        fleet.set_fault("crest-0002", "camera_offline", camera=0)
        await service.run_cycle()
        job = service._scheduler.get_job("retry-crest-0002")
        assert job is not None and job.trigger.run_date == clock.now + timedelta(minutes=2)
        assert service._scheduler.get_job("retry-crest-0001") is None
    finally:
        await service.stop()


async def test_a_new_database_probes_every_server_at_start(make_service: Any) -> None:
    service = await make_service(clock=utcnow, schedule=True)
    try:
        assert {r.last_check for r in (await service.view().snapshot()).rows} == {None}
        async with asyncio.timeout(30):
            while len({s.server for s in (await service.wait_batch()).samples}) < 6:
                pass
        rows = (await service.view().snapshot()).rows
        assert all(r.last_check is not None for r in rows)
    finally:
        await service.stop()
