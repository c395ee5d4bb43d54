"""The incident screens, driven with Pilot: the list's live countdowns and colours as a moving
clock passes the at-risk, urgent and due instants, its filters and order, the incident screen's
timeline and editor (a refused empty note, a note and a wait recorded with their author), and
on a real engine: a confirmed fault's incident on the fleet grid, the server's incidents and a
new incident from the grid, and an installer's console that sees only its own."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.content import Content
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static, TextArea

from console.desk.records import Incident, IncidentDetail, IncidentEvent, TimerRow
from console.tui.app import NlsApp
from console.tui.screens.incident import EventEditor, IncidentForm, IncidentScreen
from console.tui.screens.incidents import IncidentsScreen
from console.tui.screens.picker import PickerScreen
from tests.memsource import MemorySource
from tests.test_tui_app import make_rows

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def incident(
    n: int,
    priority: str,
    *,
    due: timedelta | None,
    status: str = "open",
    state: str = "running",
    warning: str = "none",
    at_risk: timedelta | None = None,
    urgent: timedelta | None = None,
    installer: str = "secutec",
    customer: str = "cust-0",
    server: str | None = "crest-0000",
) -> IncidentDetail:
    record = Incident(
        n, f"incident number {n}", "problem", priority, priority, status, server, customer,
        installer, "desk", T0 - timedelta(hours=1), T0 - timedelta(hours=1), "ops", "manual",
    )  # fmt: skip
    timers: tuple[TimerRow, ...] = ()
    if due is not None:
        timers = (
            TimerRow(
                "first_response", 0, priority, state, warning, "4 h on a 24/7 clock",
                T0 - timedelta(hours=1), T0 + due, None, due.total_seconds(),
                None if at_risk is None else T0 + at_risk,
                None if urgent is None else T0 + urgent,
            ),
        )  # fmt: skip
    event = IncidentEvent(n, 1, T0 - timedelta(minutes=50), T0, "ops", "customer-message", "hi")
    return IncidentDetail(record, (event,), timers, T0)


HOUR, MINUTE = timedelta(hours=1), timedelta(minutes=1)
DETAILS = [
    incident(1, "P2", due=3 * HOUR, at_risk=2 * HOUR, urgent=2 * HOUR + 45 * MINUTE),
    incident(2, "P1", due=20 * MINUTE, warning="at_risk", urgent=5 * MINUTE),
    incident(3, "P2", due=HOUR, state="paused", status="waiting"),
    incident(4, "P3", due=None, status="resolved"),
    incident(5, "P1", due=2 * HOUR, installer="alarmes", customer="cust-1", server="crest-0001"),
]


def make_app(tmp_path: Path, clock: Clock, **options: Any) -> tuple[NlsApp, MemorySource]:
    source = MemorySource(make_rows(6), clock=clock, incidents=DETAILS, **options)
    app = NlsApp(
        source,
        clock=clock,
        state_dir=tmp_path / "state",
        watch_hangup=False,
        installer=options.get("installer"),
    )
    return app, source


async def until(pilot: Pilot[Any], predicate: Callable[[], Any], limit: float = 15.0) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {predicate}")
        await pilot.pause()


def table_rows(table: DataTable[Any]) -> list[list[str]]:
    return [
        [str(cell) for cell in table.get_row_at(n)]  # Content and str cells alike
        for n in range(table.row_count)
    ]


def cell(table: DataTable[Any], row: str, column: str) -> Any:
    return table.get_cell(row, column)


def shown_ids(screen: IncidentsScreen) -> list[str]:
    return [row[0] for row in table_rows(screen.table)]


async def open_incidents(pilot: Pilot[Any], app: NlsApp) -> IncidentsScreen:
    await pilot.press("5")
    await until(pilot, lambda: isinstance(app.screen, IncidentsScreen) and app.screen.loaded)
    screen = app.screen
    assert isinstance(screen, IncidentsScreen)
    return screen


async def test_countdowns_change_colour_as_the_clock_passes_each_instant(tmp_path: Path) -> None:
    clock = Clock()
    app, _ = make_app(tmp_path, clock)
    async with app.run_test(size=(140, 30)) as pilot:
        screen = await open_incidents(pilot, app)
        table = screen.table
        # open incidents only, what is due next first (the paused one by its due instant)
        assert shown_ids(screen) == ["2", "3", "5", "1"]
        assert str(cell(table, "2", "due")) == "20m"
        state = cell(table, "2", "state")
        assert isinstance(state, Content) and str(state) == "at risk"
        assert "warning" in str(state.spans[0].style)
        assert str(cell(table, "3", "state")) == "paused"
        assert str(cell(table, "1", "state")) == "running"
        summary = screen.query_one("#incidents-summary", Static)
        assert "4 incidents · 0 breached · 1 at risk" in str(summary.render())
        clock.now = T0 + timedelta(minutes=6)  # past #2's urgent instant
        await until(pilot, lambda: str(cell(table, "2", "state")) == "urgent")
        assert str(cell(table, "2", "due")) == "14m"
        assert "error" in str(cell(table, "2", "state").spans[0].style)
        clock.now = T0 + timedelta(minutes=27)  # past its due instant
        await until(pilot, lambda: str(cell(table, "2", "state")) == "breached")
        assert str(cell(table, "2", "due")) == "-7m"
        assert str(cell(table, "3", "due")) == "33m"  # paused: its due instant, not frozen text
        assert str(cell(table, "3", "state")) == "paused"
        clock.now = T0 + timedelta(hours=2, minutes=1)
        await until(pilot, lambda: str(cell(table, "1", "state")) == "at risk")
        await until(pilot, lambda: "2 breached · 1 at risk" in str(summary.render()))


async def test_filters_by_state_installer_customer_priority_and_breaching(tmp_path: Path) -> None:
    clock = Clock()
    app, _ = make_app(tmp_path, clock)
    async with app.run_test(size=(140, 30)) as pilot:
        screen = await open_incidents(pilot, app)

        async def reloaded(keys: str) -> None:
            before = screen.loaded
            for key in keys.split():
                await pilot.press(key)
            await until(pilot, lambda: screen.loaded > before)

        await reloaded("s")  # every incident
        assert shown_ids(screen) == ["2", "3", "5", "1", "4"]
        await reloaded("s")  # waiting
        assert shown_ids(screen) == ["3"]
        await reloaded("s s s")  # resolved, closed, back to open
        assert shown_ids(screen) == ["2", "3", "5", "1"]
        await reloaded("b")
        assert shown_ids(screen) == ["2"]
        await reloaded("x")
        await pilot.press("i")
        await until(pilot, lambda: isinstance(app.screen, PickerScreen))
        await pilot.press(*"alarmes")
        before = screen.loaded
        await pilot.press("enter")
        await until(pilot, lambda: screen.loaded > before)
        assert shown_ids(screen) == ["5"]
        assert "installer=alarmes" in str(screen.query_one("#incidents-summary", Static).render())
        await reloaded("x")
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, PickerScreen))
        await pilot.press("P", "1")
        before = screen.loaded
        await pilot.press("enter")
        await until(pilot, lambda: screen.loaded > before)
        assert shown_ids(screen) == ["2", "5"]


async def test_the_incident_screen_timeline_editor_and_one_key_events(tmp_path: Path) -> None:
    clock = Clock()
    app, source = make_app(tmp_path, clock)
    async with app.run_test(size=(140, 34)) as pilot:
        screen = await open_incidents(pilot, app)
        screen.table.focus()
        await pilot.press("enter")  # the first row: incident 2
        await until(pilot, lambda: isinstance(app.screen, IncidentScreen) and app.screen.loaded)
        detail = app.screen
        assert isinstance(detail, IncidentScreen) and detail.incident_id == 2
        facts = str(detail.query_one("#incident-facts", Static).render())
        assert "#2 incident number 2" in facts and "priority P1" in facts
        timers = detail.query_one("#incident-timers", DataTable)
        assert str(timers.get_cell("0", "in")) == "20m"
        clock.now = T0 + timedelta(minutes=6)
        await until(pilot, lambda: str(timers.get_cell("0", "state")) == "urgent")
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, EventEditor))
        await pilot.press("ctrl+s")
        error = app.screen.query_one("#form-error", Static)
        await until(pilot, lambda: "an empty note" in str(error.render()))
        assert len((await source.incident_show(2)).events) == 1  # nothing written
        app.screen.query_one(TextArea).insert("called the installer")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, IncidentScreen))
        timeline = detail.query_one("#incident-timeline", DataTable)
        await until(pilot, lambda: timeline.row_count == 2)
        assert table_rows(timeline)[-1][2:] == ["memory-user", "note", "called the installer"]
        before = detail.loaded
        await pilot.press("w")
        await until(pilot, lambda: detail.loaded > before)
        assert "waiting · problem" in str(detail.query_one("#incident-facts", Static).render())
        assert table_rows(timeline)[-1][3] == "waiting"
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, IncidentsScreen))


# --- on a real engine ----------------------------------------------------------------


@pytest.fixture
async def service(tmp_path: Path) -> Any:
    """A real FleetService (cycles driven by the test, clock injected) over a simulated fleet
    whose customers' policy gives a P1 outage a one-hour first response."""
    from console.config import load_config
    from console.monitor.service import FleetService
    from console.simconfig import write_sim_config
    from probes.simulator.fleet import build_fleet

    fleet = build_fleet(4, cameras=2, http_port=0, base="127.85.0.1")
    await fleet.start()
    path = write_sim_config(
        tmp_path / "nls.toml", fleet, installers=2, customers=4, extra="[rdp]\nenabled = false\n"
    )
    text = path.read_text().replace(
        "priorities.P1 = {}", "priorities.P1 = { first_response = { hours = 1 } }"
    )
    path.write_text(text)
    clock = Clock()
    svc = FleetService(load_config(path), schedule=False, clock=clock)
    await svc.start()
    svc.fleet = fleet  # type: ignore[attr-defined]
    svc.test_clock = clock  # type: ignore[attr-defined]
    try:
        yield svc
    finally:
        await svc.stop()
        await fleet.stop()


def real_app(service: Any, tmp_path: Path, installer: str | None = None) -> NlsApp:
    return NlsApp(
        service.view(installer),
        clock=service.test_clock,
        installer=installer,
        state_dir=tmp_path / "state",
        watch_hangup=False,
    )


async def test_the_grid_marks_a_confirmed_fault_and_opens_its_incidents(
    service: Any, tmp_path: Path
) -> None:
    clock = service.test_clock
    await service.run_cycle()
    app = real_app(service, tmp_path)
    async with app.run_test(size=(150, 30)) as pilot:
        fleet_screen = app.fleet_screen()
        assert fleet_screen is not None
        grid = fleet_screen.grid
        await until(pilot, lambda: grid.model.total == 4)
        service.fleet.set_fault("crest-0002", "port_closed")
        for _ in range(3):
            clock.now += timedelta(minutes=15)
            await service.run_cycle(["crest-0002"])
        await until(pilot, lambda: getattr(grid.model.get("crest-0002"), "incident", None))
        row = grid.model.get("crest-0002")
        assert row is not None and row.incident is not None
        assert row.incident.timer is not None
        await pilot.pause()
        text = "\n".join(s.text for s in app.screen._compositor.render_strips())
        assert "#1 P1 1h 00m" in text  # the Incident column: id, priority, countdown
        clock.now += timedelta(minutes=50)

        def grid_text() -> str:
            return "\n".join(s.text for s in app.screen._compositor.render_strips())

        await until(pilot, lambda: "#1 P1 10m" in grid_text())  # the countdown moves
        assert grid.select_server("crest-0002")
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, IncidentsScreen) and app.screen.loaded)
        screen = app.screen
        assert isinstance(screen, IncidentsScreen)
        await until(pilot, lambda: shown_ids(screen) == ["1"])
        assert screen.incident_filter.server == "crest-0002"
        await pilot.press("1")
        assert grid.select_server("crest-0003")
        await pilot.press("E")
        await until(pilot, lambda: isinstance(app.screen, IncidentForm))
        form = app.screen
        assert form.query_one("#server", Input).value == "crest-0003"
        assert form.query_one("#customer", Input).value == "cust-003"
        await pilot.press("P", "9", "enter")
        error = form.query_one("#form-error", Static)
        await until(pilot, lambda: "unknown priority 'P9'" in str(error.render()))
        form.query_one("#priority", Input).value = "P2"
        form.query_one("#title", Input).value = "the installer called"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, IncidentScreen) and app.screen.loaded)
        assert app.screen.incident_id == 2  # type: ignore[attr-defined]
        stored = await service.view().incident_show(2)
        assert stored.incident.title == "the installer called"
        assert stored.incident.server == "crest-0003"


async def test_an_installers_console_shows_only_its_incidents(service: Any, tmp_path: Path) -> None:
    view = service.view()
    mine = await view.incident_open("cust-001", "P3", title="secutec's question")
    await view.incident_open("cust-002", "P3", title="someone else's")
    installer = mine.installer
    app = real_app(service, tmp_path, installer=installer)
    async with app.run_test(size=(140, 30)) as pilot:
        screen = await open_incidents(pilot, app)
        await until(pilot, lambda: shown_ids(screen) == [str(mine.id)])
        await pilot.press("s")  # every state: still only its own
        await until(pilot, lambda: screen.loaded >= 2)
        assert shown_ids(screen) == [str(mine.id)]
        text = "\n".join(s.text for s in app.screen._compositor.render_strips())
        assert "someone else's" not in text
        app.open_incident(2)
        await until(pilot, lambda: any("no incident 2" in n.message for n in app._notifications))
