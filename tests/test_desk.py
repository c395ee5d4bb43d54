"""The incident desk inside FleetService: incidents monitoring opens in the cycle that mails the
installer, incidents opened by hand, every event and its checks, the timers and the instants a
live screen colours by, scopes, statistics, and the SLA notices queued once each and delivered
by a real SMTP server. A real simulated fleet, a real DuckDB file, an injected clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import console.store.database as database
from console.config import load_config
from console.desk.desk import timer_row
from console.desk.records import IncidentQuery
from console.errors import AccessDenied, NotFound, UsageError
from console.identity import Caller, this_process
from console.monitor.service import FleetService
from console.simconfig import write_sim_config
from console.sla.calendar import to_us
from console.sla.timers import compute_timers
from probes.simulator.fleet import Fleet, build_fleet
from tests.smtp import SmtpServer

ME = this_process().user
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)  # a Friday, 09:00 in Brussels

# cust-001 (secutec, nl): the visuatech preset (resolves on recovery); cust-002 (alarmes, fr)
# and cust-003 (secutec): "desk", 24/7 targets; cust-004 (alarmes): no sla_plan at all.
# Servers: crest-0001/5 -> cust-001, crest-0002/6 -> cust-002, crest-0003 -> cust-003,
# crest-0004 -> cust-004.
DESK_POLICY = """
[sla_policies.desk]
calendar = { timezone = "Europe/Brussels", hours = "24/7" }
[sla_policies.desk.priorities.P1]
first_response = { hours = 1 }
resolution = { hours = 4 }
[sla_policies.desk.priorities.P2]
first_response = { hours = 8 }
next_reply = { hours = 2 }
[sla_policies.desk.priorities.P3]
[sla_policies.desk.monitoring]
priorities = { server_online = "P1", camera = "P2" }
[sla_policies.desk.warnings]
notify = ["ops", "installer"]
[[sla_policies.desk.escalations]]
name = "head"
after = "30m"
notify = ["head@visuatech.example"]
timers = ["first_response"]

[sla_policies.office]
calendar = { timezone = "Europe/Amsterdam", hours = "09:00-17:00", holidays = "NL" }
[sla_policies.office.priorities.P1]
first_response = { business_hours = 4 }
resolution = { workdays = 1 }
"""


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, minutes: float = 15) -> None:
        self.now += timedelta(minutes=minutes)


@pytest.fixture
async def fleet() -> AsyncIterator[Fleet]:
    sim = build_fleet(6, cameras=3, http_port=0, base="127.84.0.1")
    await sim.start()
    yield sim
    await sim.stop()


def desk_config(folder: Path, fleet: Fleet, smtp: str = "") -> Path:
    path = write_sim_config(
        folder / "nls.toml",
        fleet,
        installers=2,
        customers=4,
        extra=f"[rdp]\nenabled = false\n{smtp}",
    )
    text = path.read_text(encoding="utf-8")
    plans = text.split('sla_plan = "visuatech"')
    assert len(plans) == 5
    text = (
        plans[0]
        + 'sla_plan = "visuatech"'
        + plans[1]
        + 'sla_plan = "desk"'
        + plans[2]
        + 'sla_plan = "desk"'
        + plans[3]
        + plans[4]
    )
    path.write_text(text + DESK_POLICY, encoding="utf-8")
    return path


@pytest.fixture
def make_service(fleet: Fleet, tmp_path: Path) -> Callable[..., Any]:
    async def make(clock: Clock, smtp: str = "", **options: Any) -> FleetService:
        path = tmp_path / "nls.toml"
        if not path.exists():
            desk_config(tmp_path, fleet, smtp)
        options.setdefault("schedule", False)
        service = FleetService(load_config(path), clock=clock, **options)
        await service.start()
        return service

    return make


async def confirm(service: FleetService, clock: Clock, servers: list[str]) -> None:
    """Three failed checks, fifteen minutes apart: the third confirms and mails."""
    for _ in range(3):
        clock.advance()
        await service.run_cycle(servers)


async def test_a_confirmed_fault_opens_one_outage_incident_with_its_mail(
    make_service: Any, fleet: Fleet
) -> None:
    clock = Clock()
    service = await make_service(clock)
    try:
        view = service.view()
        await service.run_cycle()
        fleet.set_fault("crest-0002", "port_closed")
        for n in range(2):
            clock.advance()
            await service.run_cycle(["crest-0002"])
            assert await view.incidents() == [], n
        clock.advance()
        batch = await service.run_cycle(["crest-0002"])
        assert batch.notifications == 1 and batch.incident_servers == ("crest-0002",)
        [row] = await view.incidents()
        incident = row.incident
        assert (incident.type, incident.priority, incident.status, incident.source) == (
            "outage",
            "P1",
            "open",
            "monitoring",
        )
        assert (incident.server, incident.customer, incident.installer, incident.policy) == (
            "crest-0002",
            "cust-002",
            "alarmes-wallonie",
            "desk",
        )
        assert incident.opened_at == clock.now and incident.opened_by == "monitoring"
        assert incident.title == "CREST-0002: Serveur hors ligne"  # the installer's language
        assert row.timer is not None and row.timer.kind == "first_response"
        assert row.timer.due == clock.now + timedelta(hours=1)
        # the grid marks the server with its incident and its most urgent timer
        mark = service.rows["crest-0002"].incident
        assert mark is not None and (mark.id, mark.open) == (incident.id, 1)
        assert mark.timer is not None and mark.timer.due == row.timer.due
        for _ in range(3):  # still down: no second incident, nothing added
            clock.advance()
            await service.run_cycle(["crest-0002"])
        detail = await view.incident_show(incident.id)
        assert [(e.kind, e.author) for e in detail.events] == [("note", "monitoring")]
        assert "confirmed: server offline, 3 failed checks" in detail.events[0].text
        assert len(await view.incidents()) == 1
        fleet.heal("crest-0002")
        clock.advance()
        await service.run_cycle(["crest-0002"])
        detail = await view.incident_show(incident.id)
        assert detail.incident.status == "open"  # the desk policy leaves it to ops
        assert detail.events[-1].text.startswith("recovered: server offline")
        mails = await service.store.call(
            lambda s: s.con.execute("SELECT kind FROM outbox ORDER BY created").fetchall()
        )
        assert mails == [("alert",), ("recovery",)]
    finally:
        await service.stop()


async def test_the_incident_commits_with_the_samples_alert_states_and_mail(
    make_service: Any, fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cycle whose incident cannot be written stores nothing (no alert state, no mail), and
    the next cycle confirms the fault again: one incident, one mail, nothing lost."""
    clock = Clock()
    service = await make_service(clock)
    try:
        await service.run_cycle()
        fleet.set_fault("crest-0003", "port_closed")
        for _ in range(2):
            clock.advance()
            await service.run_cycle(["crest-0003"])
        real = database.apply_monitoring

        def broken(*args: Any) -> Any:
            raise OSError("disk full")

        monkeypatch.setattr(database, "apply_monitoring", broken)
        clock.advance()
        with pytest.raises(OSError, match="disk full"):
            await service.run_cycle(["crest-0003"])

        async def stored() -> tuple[int, ...]:
            return await service.store.call(
                lambda s: tuple(
                    s.con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                    for table in ("incidents", "outbox", "incident_events")
                )
            )

        assert await stored() == (0, 0, 0)
        states = await service.store.call(
            lambda s: s.con.execute(
                "SELECT status FROM alert_state WHERE server = 'crest-0003' AND "
                "check_name = 'server_online'"
            ).fetchall()
        )
        assert states == [("pending",)]
        monkeypatch.setattr(database, "apply_monitoring", real)
        clock.advance()
        batch = await service.run_cycle(["crest-0003"])
        assert batch.notifications == 1
        assert await stored() == (1, 1, 1)
    finally:
        await service.stop()


async def test_a_worse_fault_raises_the_priority_and_the_preset_resolves_on_recovery(
    make_service: Any, fleet: Fleet
) -> None:
    clock = Clock()
    service = await make_service(clock)
    try:
        view = service.view()
        await service.run_cycle()
        fleet.set_fault("crest-0003", "camera_offline", camera=1)
        await confirm(service, clock, ["crest-0003"])
        [row] = await view.incidents(IncidentQuery(server="crest-0003"))
        assert row.incident.priority == "P2" and row.incident.title.startswith("CREST-0003: ")
        fleet.set_fault("crest-0003", "port_closed")
        await confirm(service, clock, ["crest-0003"])
        [row] = await view.incidents(IncidentQuery(server="crest-0003"))
        assert row.incident.priority == "P1"
        detail = await view.incident_show(row.incident.id)
        assert [e.kind for e in detail.events] == ["note", "priority", "note"]
        # crest-0001 belongs to a visuatech customer: recovery resolves what monitoring opened
        fleet.set_fault("crest-0001", "port_closed")
        await confirm(service, clock, ["crest-0001"])
        [opened] = await view.incidents(IncidentQuery(server="crest-0001"))
        assert opened.incident.policy == "visuatech" and opened.timer is None
        assert service.rows["crest-0001"].incident is not None
        fleet.heal("crest-0001")
        clock.advance()
        await service.run_cycle(["crest-0001"])
        detail = await view.incident_show(opened.incident.id)
        assert detail.incident.status == "resolved"
        assert [e.kind for e in detail.events] == ["note", "note", "resolve"]
        assert service.rows["crest-0001"].incident is None
        # a customer without an sla_plan: the installer is mailed, no incident is opened
        fleet.set_fault("crest-0004", "port_closed")
        await confirm(service, clock, ["crest-0004"])
        assert await view.incidents(IncidentQuery(server="crest-0004")) == []
        mails = await service.store.call(
            lambda s: s.con.execute(
                "SELECT count(*) FROM outbox WHERE server = 'crest-0004'"
            ).fetchone()[0]
        )
        assert mails == 1
    finally:
        await service.stop()


async def test_incidents_by_hand_every_event_and_every_bad_input(make_service: Any) -> None:
    clock = Clock()
    service = await make_service(clock)
    try:
        view = service.view()
        opened = await view.incident_open(
            "cust-002",
            "P2",
            "crest-0006",
            "question",
            "  export   to csv? ",
            T0 - timedelta(hours=1),
        )
        assert (opened.id, opened.title, opened.source) == (1, "export to csv?", "manual")
        assert opened.opened_by == ME and opened.recorded_at == T0
        assert opened.opened_at == T0 - timedelta(hours=1)
        default = await view.incident_open("cust-003", "P3")
        assert default.title == "problem from Hospital Liège" and default.type == "problem"
        alice = service.view(Caller(4321, "alice", "ops"))
        await alice.incident_event(1, "reply", "Which version?", T0 - timedelta(minutes=30))
        clock.advance(10)
        await view.incident_event(1, "customer-message", "24.1")
        await view.incident_event(1, "waiting")
        detail = await view.incident_show(1)
        assert detail.incident.status == "waiting"
        assert [(e.seq, e.author, e.kind) for e in detail.events] == [
            (1, "alice", "reply"),
            (2, ME, "customer-message"),
            (3, ME, "waiting"),
        ]
        timers = {t.kind: t for t in detail.timers}
        assert timers["first_response"].state == "met"
        assert timers["next_reply"].state == "paused"
        clock.advance(60)
        await view.incident_event(1, "resume")
        await view.incident_event(1, "priority", "P1")
        await view.incident_event(1, "note", "restarted the service")
        await view.incident_event(1, "resolve")
        await view.incident_event(1, "close")
        assert (await view.incident_show(1)).incident.status == "closed"
        await view.incident_event(1, "reopen", "it came back")
        reopened = (await view.incident_show(1)).incident
        assert (reopened.status, reopened.priority, reopened.opening_priority) == (
            "open",
            "P1",
            "P2",
        )
        await view.incident_event(1, "close")
        before = await service.store.call(
            lambda s: s.con.execute("SELECT count(*) FROM incident_events").fetchone()[0]
        )
        naive = datetime(2026, 11, 20, 9, 0)
        refused: list[tuple[Callable[[], Any], str]] = [
            (lambda: view.incident_open("ghost", "P1"), "no customer 'ghost'"),
            (lambda: view.incident_open("cust-002", "P9"), "unknown priority 'P9' in policy desk"),
            (lambda: view.incident_open("cust-002", "P1", "crest-0001"), "belongs to customer"),
            (lambda: view.incident_open("cust-002", "P1", "ghost"), "no server 'ghost'"),
            (lambda: view.incident_open("cust-002", "P1", None, "rant"), "unknown incident type"),
            (lambda: view.incident_open("cust-004", "P1"), "has no sla_plan"),
            (lambda: view.incident_open("cust-002", "P1", at=naive), "has no UTC offset"),
            (
                lambda: view.incident_open("cust-002", "P1", at=T0 + timedelta(days=1)),
                "in the future",
            ),
            (lambda: view.incident_event(99, "note", "x"), "no incident 99"),
            (lambda: view.incident_event(1, "note", "x"), "closed: only reopen"),
            (lambda: view.incident_event(2, "note", "  "), "an empty note"),
            (lambda: view.incident_event(2, "shout", "x"), "unknown event kind 'shout'"),
            (lambda: view.incident_event(2, "priority", "P7"), "unknown priority 'P7'"),
            (lambda: view.incident_event(2, "reopen"), "only a resolved or closed one"),
            (lambda: view.incident_event(2, "ack", at=naive), "has no UTC offset"),
            (lambda: view.incident_event(2, "ack", at=T0 - timedelta(days=9)), "before the"),
            (lambda: view.incident_show(99), "no incident 99"),
            (lambda: view.incident_show(2, T0 - timedelta(days=1)), "before incident 2"),
            (lambda: view.incidents(IncidentQuery(customer="ghost")), "no customer 'ghost'"),
            (lambda: view.incidents(IncidentQuery(status="dormant")), "unknown status"),
            (lambda: view.incident_stats("2026-13"), "is not a month"),
        ]
        for call, words in refused:
            with pytest.raises(UsageError, match=words):
                await call()
        after = await service.store.call(
            lambda s: [
                s.con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                for table in ("incident_events", "incidents")
            ]
        )
        assert after == [before, 2]  # nothing written
        # an installer's view sees only its own incidents; others' do not exist for it
        secutec = service.view("secutec")
        assert [r.incident.id for r in await secutec.incidents()] == [2]
        for call in (
            lambda: secutec.incident_show(1),
            lambda: secutec.incident_event(1, "reopen"),
            lambda: secutec.incident_open("cust-002", "P1"),
            lambda: secutec.incidents(IncidentQuery(installer="alarmes-wallonie")),
        ):
            with pytest.raises(NotFound):
                await call()
        stats = {s.customer: s for s in await view.incident_stats("2026-11")}
        assert (stats["cust-002"].requests, stats["cust-002"].questions) == (1, 1)
        assert stats["cust-002"].contacts == 2  # the question and one customer message
        assert [s.customer for s in await secutec.incident_stats("2026-11")] == ["cust-003"]

        # An installer's staff: their side of the conversation, on their own incidents, now.
        staff = service.view(Caller(4322, "sam", "installer", "secutec"))
        assert [r.incident.id for r in await staff.incidents()] == [2]
        note = await staff.incident_event(2, "note", "camera 3 replaced")
        said = await staff.incident_event(2, "customer-message", "still dark")
        assert (note.author, said.author, said.at) == ("sam", "sam", clock.now)
        before = await service.store.call(
            lambda s: s.con.execute("SELECT count(*) FROM incident_events").fetchone()[0]
        )
        denied: list[tuple[Callable[[], Any], str]] = [
            (lambda: staff.incident_open("cust-003", "P1"), "cannot open incidents"),
            (lambda: staff.incident_event(2, "reply", "done"), "is a customer-message"),
            (lambda: staff.incident_event(2, "resolve"), "not 'resolve'"),
            (lambda: staff.incident_event(2, "priority", "P1"), "not 'priority'"),
            (lambda: staff.incident_event(2, "waiting"), "not 'waiting'"),
            (lambda: staff.incident_event(2, "note", "x", clock.now), "cannot back-date"),
        ]
        for call, words in denied:
            with pytest.raises(AccessDenied, match=words):
                await call()
        with pytest.raises(NotFound, match="no incident 1"):
            await staff.incident_event(1, "note", "not mine")  # alarmes-wallonie's
        after = await service.store.call(
            lambda s: s.con.execute("SELECT count(*) FROM incident_events").fetchone()[0]
        )
        assert after == before
    finally:
        await service.stop()


async def test_lists_sort_by_what_is_due_next_and_filter(make_service: Any) -> None:
    clock = Clock()
    service = await make_service(clock)
    try:
        view = service.view()
        slow = await view.incident_open("cust-002", "P2")  # first response in 8 h
        fast = await view.incident_open("cust-003", "P1")  # in 1 h
        quiet = await view.incident_open("cust-003", "P3")  # no timers
        done = await view.incident_open("cust-002", "P1")
        await view.incident_event(done.id, "resolve")
        ids = [r.incident.id for r in await view.incidents()]
        assert ids == [fast.id, slow.id, quiet.id, done.id]
        assert [r.incident.id for r in await view.incidents(IncidentQuery(open_only=True))] == [
            fast.id,
            slow.id,
            quiet.id,
        ]
        by_installer = IncidentQuery(installer="secutec")
        assert [r.incident.id for r in await view.incidents(by_installer)] == [fast.id, quiet.id]
        assert [r.incident.id for r in await view.incidents(IncidentQuery(priority="P2"))] == [
            slow.id
        ]
        assert await view.incidents(IncidentQuery(breaching=True)) == []
        clock.advance(50)  # 10 min left of fast's hour: urgent
        [row] = await view.incidents(IncidentQuery(breaching=True))
        assert row.incident.id == fast.id and row.timer is not None
        assert row.timer.warning == "urgent"
        # the past: at T0 - 1 s nothing had been opened yet
        assert await view.incidents(now=T0 - timedelta(seconds=1)) == []
        clock.advance(60)
        [row] = await view.incidents(IncidentQuery(breaching=True))
        assert row.breached == 1 and row.timer is not None and row.timer.state == "breached"
        past = await view.incidents(now=T0 + timedelta(minutes=5))
        assert {r.incident.id: r.incident.status for r in past}[done.id] == "resolved"
    finally:
        await service.stop()


async def test_a_timer_row_colours_a_countdown_exactly_as_a_recomputation_would(
    make_service: Any,
) -> None:
    """A screen shows (state, warning) from one fetch for as long as nothing happens; the
    instants it uses must agree with the timer engine at every later instant, business hours
    and holidays included."""
    clock = Clock()
    clock.now = datetime(2026, 4, 24, 13, 30, tzinfo=UTC)  # Friday 15:30 in Amsterdam
    service = await make_service(clock)
    try:
        policy = service.desk.catalog.require("office")
        opened = clock.now
        fetched = compute_timers(policy, "P1", opened, [], opened)
        rows = {t.kind: timer_row(policy, t, to_us(opened)) for t in fetched}
        # 4 business hours from Friday 15:30: 1.5 h on Friday, Monday 27 April is King's Day
        assert rows["first_response"].due == datetime(2026, 4, 28, 9, 30, tzinfo=UTC)
        probe = opened
        while probe < datetime(2026, 4, 29, 18, 0, tzinfo=UTC):
            for timer in compute_timers(policy, "P1", opened, [], probe):
                state, warning = rows[timer.kind].state_at(probe)
                assert (state, warning) == (timer.state.value, timer.warning.value), (
                    timer.kind,
                    probe,
                )
            probe += timedelta(minutes=7)
    finally:
        await service.stop()


async def test_notices_are_mailed_once_each_in_the_installers_language(
    make_service: Any,
) -> None:
    """At risk, urgent, breached and the escalation of a first response, to ops and the
    installer (in French for alarmes-wallonie), each once: a second tick and a restart repeat
    none, and an SMTP outage loses none."""
    clock = Clock()
    async with SmtpServer() as smtp:
        settings = (
            f'[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\n'
            'ops_address = "ops@visuatech.example"\n'
        )
        service = await make_service(clock, settings)
        try:
            view = service.view()
            incident = await view.incident_open(
                "cust-002", "P1", "crest-0002", "problem", "no video"
            )
            assert await service.desk_tick() == 0
            clock.advance(50)  # 10 of 60 minutes left: urgent (at risk passed unseen)
            assert await service.desk_tick() == 1
            assert await service.desk_tick() == 0
            messages = await smtp.inbox.wait_for(1)
            subject = messages[0].message["Subject"]
            assert subject.startswith(f"[NLS] Incident n° {incident.id} chez Retail Genk")
            assert "urgent" in subject
            body = messages[0].message.get_body(("plain",)).get_content()
            assert "première réponse" in body and "Échéance" in body
            assert set(messages[0].rcpt_tos) == {
                "ops@visuatech.example",
                "alerts@alarmes-wallonie.example",
            }
        finally:
            await service.stop()
        await smtp.stop()  # an SMTP outage: notices wait in the outbox
        clock.advance(25)  # first response breached 15 min ago; escalation at due + 30 min
        service = await make_service(clock, settings)
        try:
            assert await service.desk_tick() == 1  # breached; the urgent one is not repeated
            clock.advance(20)
            assert await service.desk_tick() == 1  # escalation "head"
            clock.advance(100)  # 195 of 240 minutes of the resolution used: at risk
            assert await service.desk_tick() == 1
            assert await service.desk_tick() == 0
            await smtp.start()
            clock.advance(10)  # past the retry the outage scheduled
            service.kick_outbox()
            await smtp.inbox.wait_for(4)
            keys = await service.store.call(
                lambda s: s.con.execute(
                    "SELECT key FROM outbox WHERE kind = 'incident' ORDER BY key"
                ).fetchall()
            )
        finally:
            await service.stop()
        assert keys == [
            (f"nls-incident-{incident.id}-first_response:0:breached",),
            (f"nls-incident-{incident.id}-first_response:0:escalation:head",),
            (f"nls-incident-{incident.id}-first_response:0:urgent",),
            (f"nls-incident-{incident.id}-resolution:0:at_risk",),
        ]
        head = [m for m in smtp.inbox.messages if "head@visuatech.example" in m.rcpt_tos]
        assert len(head) == 1 and "escalade" in head[0].message["Subject"]
        assert head[0].rcpt_tos == ["head@visuatech.example"]
        assert len(smtp.inbox.messages) == 4
