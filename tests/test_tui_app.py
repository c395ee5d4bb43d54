"""The console app: navigation, filters, the scoped installer view, detail, SQL, maintenance,
mail, palette and live updates, driven with Pilot; snapshots of the main screens at a fixed
clock over deterministic data (an in-memory FleetSource shaped like the engine's output), and
the same app on a real engine.

Every check waits for what an operator would see (`shows`, `until`) instead of trusting an idle
heuristic: a CPU-starved test process looks idle before it has painted.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, OptionList, Static, TextArea

from console.errors import NotFound
from console.fleetview import Failing, MailMessage, MailRow, ServerRow
from console.monitor.maintenance import MaintenanceWindow
from console.monitor.windowtext import read_window
from console.tui.app import NlsApp
from console.tui.grid import FleetGrid
from console.tui.screens.detail import DetailScreen
from console.tui.screens.fleet import FleetScreen
from console.tui.screens.maintenance import (
    MaintenanceForm,
    MaintenanceScreen,
    form_text,
)
from console.tui.screens.outbox import MailScreen, OutboxScreen
from console.tui.screens.picker import PickerScreen
from console.tui.screens.sql import ExportScreen, SqlScreen, default_query, store_tables
from tests.memsource import MemorySource, camera_failing, camera_ids

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
INSTALLERS = (
    ("secutec", "Secutec Beveiliging", "Europe/Brussels"),
    ("alarmes", "Alarmes Wallonie", "Europe/Brussels"),
    ("lux", "Lux SA", "Europe/Luxembourg"),
)
STATUS_CYCLE = ("up", "up", "problem", "up", "down", "quiet", "up", "pending", "up", "unknown")
DAY = 86400.0
CPU_HIGH = "CPU at 99.2% over 5 s (every sample above 98%)"
OFFLINE = "server offline: nothing answers (Eocortex: connection refused)"


def clock() -> datetime:
    return NOW


def make_row(n: int, **changes: Any) -> ServerRow:
    """Row ``n`` as the engine would report it: three installers, nine customers, every status
    (maintenance comes from the source's windows, as in the engine), deterministic values.

    problem: camera 1 offline and the CPU pinned, both confirmed and mailed; pending: camera 2
    offline once; down: nothing answers, so cameras, CPU and disk are unknown; unknown: never
    probed; quiet: a new server, two days of history.
    """
    sid = f"crest-{n:04d}"
    status = STATUS_CYCLE[n % len(STATUS_CYCLE)]
    installer_id, installer_name, zone = INSTALLERS[n % 3]
    customer = n % 9
    mailed = NOW - timedelta(minutes=20)
    failing: tuple[Failing, ...] = ()
    online: int | None = 16
    cpu: float | None = float((n * 37) % 90)
    disk: float | None = float(1_000_000 + n * 123_457)
    last: datetime | None = NOW - timedelta(seconds=30 + n * 11)
    known: float | None = 30 * DAY
    if status == "problem":
        failing = (
            dataclasses.replace(camera_failing(sid, 0, 3), alerted_at=mailed),
            Failing("cpu", "", 3, CPU_HIGH, alerted_at=mailed),
        )
        online, cpu = 15, 99.2
    elif status == "pending":
        failing = (camera_failing(sid, 1, 1),)
        online, known = 15, 3 * 3600.0
    elif status == "down":
        failing = (Failing("server_online", "", 4, OFFLINE, alerted_at=mailed),)
        online = cpu = disk = None
    elif status == "unknown":
        online = cpu = disk = last = known = None
    elif status == "quiet":
        known = 2 * DAY
    row = ServerRow(
        server_id=sid,
        name=f"CREST-{n:04d}",
        customer_id=f"cust-{customer}",
        customer_name=f"{('Brewery', 'Hospital', 'School')[customer % 3]} {customer}",
        installer_id=installer_id,
        installer_name=installer_name,
        status=status,  # type: ignore[arg-type]
        cameras_online=online,
        cameras_total=None if status == "unknown" else 16,
        cpu_pct=cpu,
        disk_write_bps=disk,
        last_check=last,
        failing=failing,
        availability_30d=None if known is None else 1.0 - (n % 5) * 0.002,
        availability_known_s=known,
        quiet_until=NOW + timedelta(days=5) if status == "quiet" else None,
        timezone=zone,
    )
    return dataclasses.replace(row, **changes) if changes else row


def make_rows(count: int) -> list[ServerRow]:
    return [make_row(n) for n in range(count)]


ALERT_TEXT = """Beste Secutec Beveiliging,

Next Level Service heeft een afwijking gevonden op een CREST server van uw klant.

* Server niet online
  Huidige waarde:     server offline: niets antwoordt (Eocortex: verbinding geweigerd)
"""
ALERT_HTML = (
    "<html><head><title>x</title></head><body><p>Beste Secutec Beveiliging,</p>"
    "<table><tr><th>Afwijking</th><th>Huidige waarde</th></tr>"
    "<tr><td>Server niet online</td><td>server offline: niets antwoordt</td></tr></table>"
    "</body></html>"
)


def mail(key: str, status: str, attempts: int, hours: int, **kw: Any) -> MailRow:
    base: dict[str, Any] = dict(
        key=key,
        created=NOW - timedelta(hours=hours),
        kind="alert",
        server="crest-0004",
        installer="secutec",
        recipients=("ops@secutec.example",),
        subject="CREST-0004: server offline",
        status=status,
        attempts=attempts,
        last_error=None,
        sent_at=NOW - timedelta(hours=hours) if status == "sent" else None,
    )
    return MailRow(**(base | kw))


MAILS: list[MailRow | MailMessage] = [
    MailMessage(mail("m1", "sent", 1, 2), ALERT_TEXT, ALERT_HTML),
    mail(
        "m2",
        "failed",
        5,
        1,
        kind="recovery",
        server="crest-0002",
        installer="lux",
        recipients=("noc@lux.example",),
        subject="CREST-0002: cameras back online",
        last_error="550 mailbox unavailable",
    ),
    mail("m3", "pending", 0, 0, server="crest-0014", subject="CREST-0014: server offline"),
]
WINDOW = MaintenanceWindow(
    id=1,
    scope_kind="customer",
    scope_id="cust-3",
    reason="firmware upgrade",
    announced_at=NOW - timedelta(days=1),
    created_by="ops",
    starts=NOW - timedelta(hours=1),
    ends=NOW + timedelta(hours=2),
)


def make_source(count: int = 30, **options: Any) -> MemorySource:
    options.setdefault("next_cycle", NOW + timedelta(seconds=95))
    options.setdefault("mails", MAILS)
    options.setdefault("windows", [WINDOW])
    return MemorySource(make_rows(count), clock=clock, **options)


def make_app(source: MemorySource, tmp_path: Path, **options: Any) -> NlsApp:
    options.setdefault("export_dir", tmp_path / "exports")
    return NlsApp(source, clock=clock, state_dir=tmp_path / "state", watch_hangup=False, **options)


async def until(pilot: Pilot[Any], predicate: Callable[[], Any], limit: float = 30.0) -> None:
    """Let the app run until `predicate()` holds; fails after `limit` seconds of waiting (a
    hang guard: under load the app is slow, never wrong)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {predicate}")
        await pilot.pause(0.02)


def screen_text(app: NlsApp) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def shows(pilot: Pilot[Any], *texts: str, limit: float = 30.0) -> str:
    """Wait until the screen shows every one of `texts`; returns the screen's text. The
    failure names what is missing and carries the screen."""
    app: NlsApp = pilot.app  # type: ignore[assignment]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while True:
        text = screen_text(app)
        missing = [t for t in texts if t not in text]
        if not missing:
            return text
        if loop.time() > deadline:
            raise AssertionError(f"the screen never showed {missing}:\n{text}")
        await pilot.pause(0.02)


def grid_of(app: NlsApp) -> FleetGrid:
    fleet = app.fleet_screen()
    assert fleet is not None
    return fleet.grid


def loaded(app: NlsApp) -> Callable[[], bool]:
    return lambda: app.snapshot_rows is not None and grid_of(app).model.total > 0


def notes(app: NlsApp) -> list[str]:
    return [n.message for n in app._notifications]


def statuses(app: NlsApp) -> set[str]:
    grid = grid_of(app)
    return {grid.model.get(s).status for s in grid.model.visible_ids()}  # type: ignore[union-attr]


# --- main screen and navigation ------------------------------------------------------


async def test_main_screen_at_80x24_shows_grid_counts_and_mode(tmp_path: Path) -> None:
    app = make_app(make_source(30), tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, loaded(app))
        text = await shows(pilot, "CREST-0004", "✖ DOWN", "30 servers")
        assert isinstance(app.screen, FleetScreen)
        # Abbreviated on purpose to fit 80 columns, never cut mid-word.
        assert "● 13 up ◔ 3 pend ▲ 2 prob ✖ 3 down │ 6 cams off │ 30 servers" in text
        assert "embedded · next cycle 1:35 · filter: all" in text
        assert "…" not in text.splitlines()[0]
        assert app.status.counts.cameras_offline == 6


async def test_a_wide_header_names_every_count_in_full(tmp_path: Path) -> None:
    app = make_app(make_source(30), tmp_path)
    async with app.run_test(size=(140, 30)) as pilot:
        await until(pilot, loaded(app))
        await shows(
            pilot,
            "● 13 up  ◔ 3 pending  ▲ 2 problem  ✖ 3 down  6 cams offline │ 30 servers",
            "embedded · next cycle 1:35 · filter: all",
        )


async def test_navigation_between_every_screen(tmp_path: Path) -> None:
    app = make_app(make_source(30), tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, loaded(app))
        await pilot.press("2")
        await until(pilot, lambda: isinstance(app.screen, SqlScreen))
        await pilot.press("escape", "3")
        await until(pilot, lambda: isinstance(app.screen, OutboxScreen))
        await pilot.press("4")
        await until(pilot, lambda: isinstance(app.screen, MaintenanceScreen))
        await pilot.press("question_mark")
        await shows(pilot, "Show every key binding")
        await pilot.press("escape", "1")
        await until(pilot, lambda: isinstance(app.screen, FleetScreen))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, DetailScreen))
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, FleetScreen))
        await pilot.press("f9")
        await until(pilot, lambda: not app.current_theme.dark)
        await pilot.press("ctrl+q")
    assert app.return_code == 0


# --- filters and sorting -------------------------------------------------------------


async def test_search_filters_as_you_type_and_shows_in_header(tmp_path: Path) -> None:
    app = make_app(make_source(30), tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, loaded(app))
        grid = grid_of(app)
        await pilot.press("slash", *"0001")
        await until(pilot, lambda: grid.model.visible_ids() == ["crest-0001"])
        await pilot.press("backspace")
        await until(pilot, lambda: len(grid.model) == 10)
        await pilot.press("enter")
        await until(pilot, lambda: grid.has_focus)
        await shows(pilot, 'filter: "000"')
        await pilot.press("slash", *"hospital")  # focusing the search selects its text
        await until(pilot, lambda: grid.filter.text == "hospital")
        await until(
            pilot,
            lambda: (
                {grid.model.get(s).customer_name.split()[0] for s in grid.model.visible_ids()}  # type: ignore[union-attr]
                == {"Hospital"}
            ),
        )


async def test_status_filters_say_exactly_what_they_show(tmp_path: Path) -> None:
    app = make_app(make_source(30), tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, loaded(app))
        failing = {"pending", "problem", "down"}
        await pilot.press("f")
        await until(pilot, lambda: statuses(app) == failing)
        await shows(pilot, "filter: down, problem or pending  8/30 shown")
        await pilot.press("f")
        await until(pilot, lambda: statuses(app) == {"quiet"})
        await shows(pilot, "filter: quiet  3/30 shown")
        await pilot.press("f")
        await until(pilot, lambda: statuses(app) == {"maintenance"})
        await pilot.press("f")
        await until(pilot, lambda: len(grid_of(app).model) == 30)
        await pilot.press("p")
        await until(pilot, lambda: statuses(app) == failing)
        await pilot.press("u")
        await until(pilot, lambda: statuses(app) == {"quiet"})
        await pilot.press("m")
        await until(pilot, lambda: statuses(app) == {"maintenance"})
        await pilot.press("a")
        await until(pilot, lambda: len(grid_of(app).model) == 30)
        app.set_focus(None)
        await pilot.press("question_mark")
        await shows(pilot, "Show every key binding")
        help_text = str(app.screen.query_one("#help-text", Static).render())
        assert "Only failing servers: pending, problem or down" in help_text


async def test_installer_and_customer_pickers_then_clear(tmp_path: Path) -> None:
    app = make_app(make_source(30), tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, loaded(app))
        grid = grid_of(app)
        await pilot.press("i")
        await until(pilot, lambda: isinstance(app.screen, PickerScreen))
        assert app.screen.query_one(OptionList).option_count == 4
        await pilot.press(*"lux", "enter")
        await until(pilot, lambda: grid.filter.installer_id == "lux")
        assert {grid.model.get(s).installer_id for s in grid.model.visible_ids()} == {"lux"}  # type: ignore[union-attr]
        text = await shows(pilot, "filter: installer lux  10/30 shown")
        assert "all installers" not in text, "the header contradicted the filter"
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, PickerScreen))
        picker = app.screen
        assert picker.query_one(OptionList).option_count == 4  # "all" + lux's three customers
        await pilot.press("down", "down", "enter")
        await until(pilot, lambda: grid.filter.customer_id is not None)
        flt = grid.filter
        assert flt.installer_id == "lux"
        assert {grid.model.get(s).customer_id for s in grid.model.visible_ids()} == {  # type: ignore[union-attr]
            flt.customer_id
        }
        await pilot.press("i")
        await until(pilot, lambda: isinstance(app.screen, PickerScreen))
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, FleetScreen))
        assert grid.filter == flt
        await pilot.press("x")
        await until(pilot, lambda: grid.filter.is_empty and len(grid.model) == 30)
        await pilot.press("i")
        await until(pilot, lambda: isinstance(app.screen, PickerScreen))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, FleetScreen))
        assert grid.filter.installer_id is None


async def test_a_sort_shows_the_top_of_the_list(tmp_path: Path) -> None:
    app = make_app(make_source(200), tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, loaded(app))
        grid = grid_of(app)
        grid.focus()
        await pilot.press("end")
        await until(pilot, lambda: grid.cursor_position == 199 and grid.scroll_offset.y > 0)
        await pilot.press("s")  # by server name
        await until(pilot, lambda: grid.model.sort_key == "server")
        await until(pilot, lambda: grid.cursor_position == 0 and grid.scroll_offset.y == 0)
        await shows(pilot, "Server▲", "CREST-0000")
        await pilot.press("S")
        await until(pilot, lambda: grid.model.descending)
        await shows(pilot, "Server▼", "CREST-0199")
        assert grid.cursor_server_id == "crest-0199"


# --- scoped installer view -----------------------------------------------------------


@pytest.mark.parametrize("source_scoped", [True, False])
async def test_scoped_console_never_shows_another_installer(
    tmp_path: Path, source_scoped: bool
) -> None:
    source = make_source(30, installer="lux" if source_scoped else None)
    app = make_app(source, tmp_path, installer="lux")
    foreign = [r.name for r in make_rows(30) if r.installer_id != "lux"]
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, loaded(app))
        grid = grid_of(app)
        assert {r.installer_id for r in grid.model.rows()} == {"lux"}
        assert app.status.counts.servers == 10
        text = await shows(pilot, "installer lux only", "10 servers")
        assert not any(name in text for name in foreign)
        source.push([make_row(1, cpu_pct=1.0), make_row(2, cpu_pct=2.0)])
        await until(pilot, lambda: app.batches == 1)
        assert grid.model.get("crest-0001") is None
        assert grid.model.get("crest-0002").cpu_pct == 2.0  # type: ignore[union-attr]
        await pilot.press("i")
        await until(pilot, lambda: isinstance(app.screen, PickerScreen))
        labels = [str(o.prompt) for o in app.screen.query_one(OptionList).options]
        assert labels[1:] == ["Lux SA  (lux, 10 servers)"]
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, FleetScreen))
        await pilot.press("2", "p")  # "2" does nothing here; "p" shows the keys were read
        await shows(pilot, "filter: down, problem or pending")
        assert isinstance(app.screen, FleetScreen), "SQL is not offered at all"
        assert "SQL" not in screen_text(app).splitlines()[-1]
        app.set_focus(None)
        await pilot.press("question_mark")
        text = await shows(pilot, "Show every key binding")
        assert "Ad-hoc read-only SQL" not in text
        await pilot.press("escape", "a", "ctrl+p", *"CREST-000")
        text = await shows(pilot, "Go to server", "CREST-0002", "CREST-0005")
        assert not any(name in text for name in foreign)
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, FleetScreen))
        await pilot.press("ctrl+p", *"sql")
        await shows(pilot, "sql")
        assert "Ad-hoc read-only SQL" not in screen_text(app)
        await pilot.press("escape")
        if source_scoped:
            app.open_detail("crest-0001")
            await until(pilot, lambda: any("crest-0001" in n for n in notes(app)))
            assert "CREST-0000" not in screen_text(app)


# --- detail --------------------------------------------------------------------------


async def open_detail(pilot: Pilot[Any], server_id: str) -> DetailScreen:
    app: NlsApp = pilot.app  # type: ignore[assignment]
    assert grid_of(app).select_server(server_id)
    await pilot.press("enter")
    await until(pilot, lambda: isinstance(app.screen, DetailScreen))
    screen = app.screen
    assert isinstance(screen, DetailScreen)
    await until(pilot, lambda: screen.detail is not None)
    await until(pilot, lambda: screen.query_one("#axis").span[0] != datetime.min)  # type: ignore[attr-defined]
    return screen


async def test_detail_names_cameras_says_who_was_alerted_and_plots_on_a_time_axis(
    tmp_path: Path,
) -> None:
    source = make_source(30)
    app = make_app(source, tmp_path)
    async with app.run_test(size=(110, 60)) as pilot:
        await until(pilot, loaded(app))
        screen = await open_detail(pilot, "crest-0002")
        cameras = screen.query_one("#cameras", DataTable)
        assert cameras.row_count == 16
        camera_id, name = camera_ids("crest-0002", 1)[0]
        text = await shows(
            pilot,
            "CREST-0002",
            "▲ PROB",
            "Cameras: 15/16 online",
            f"camera        {name}: camera offline (Disconnected)",
            "cpu           CPU at 99.2% over 5 s",
            "3 failed checks in a row · installer alerted 2026-11-22 11:40 UTC",
            "Availability, last 30 d",
            "server_online 99.60%",
            "History, last 24 h, times in UTC",
            "CPU         47% to 92%, mean 68%",
        )
        assert camera_id not in text, "a camera is named, never shown by its id"
        latest = screen.query_one("#latest", DataTable)
        assert latest.row_count == 3 + 16 + 1  # server, cpu, disk, rights; 16 cameras
        subjects = {str(latest.get_row_at(i)[2]) for i in range(latest.row_count)}
        assert name in subjects and camera_id not in subjects
        # The axis names the period's ends; each period has its own.
        lines = text.splitlines()
        axis = lines[next(i for i, line in enumerate(lines) if "Disk write " in line) + 2]
        assert "12:00" in axis and "00:00" in axis
        await pilot.press("t")
        text = await shows(pilot, "History, last 7 d", "11-15 12:00", "11-22 12:00")
        await pilot.press("t")
        await shows(pilot, "History, last 30 d", "10-23 12:00", "11-22 12:00")
        await pilot.press("n")
        await until(pilot, lambda: source.checks_requested == [("crest-0002",)])
        source.push([make_row(2, status="up", failing=(), cameras_online=16, cpu_pct=20.0)])
        await shows(pilot, "Cameras: 16/16 online")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, FleetScreen))


async def test_detail_of_a_server_that_does_not_answer(tmp_path: Path) -> None:
    app = make_app(make_source(30), tmp_path)
    async with app.run_test(size=(110, 60)) as pilot:
        await until(pilot, loaded(app))
        await open_detail(pilot, "crest-0004")
        text = await shows(
            pilot,
            "✖ DOWN",
            f"server_online {OFFLINE}",
            "4 failed checks in a row · installer alerted",
            "Cameras: 0/16 online, 16 not checked",
            "not checked (server down)",
        )
        assert "OK     " not in text.split("Cameras:")[1], "no camera can be OK on a dead server"


async def test_detail_shows_maintenance_once_and_no_availability_on_hours_of_data(
    tmp_path: Path,
) -> None:
    app = make_app(make_source(30), tmp_path)
    async with app.run_test(size=(110, 50)) as pilot:
        await until(pilot, loaded(app))
        await open_detail(pilot, "crest-0003")
        text = await shows(pilot, "⚒ MAINT", "maintenance: firmware upgrade")
        assert text.count("firmware upgrade") == 1
        await pilot.press("escape")
        await open_detail(pilot, "crest-0007")
        await shows(pilot, "◔ PEND", "installer not alerted (yet)", "n/a: less than a day")
        await pilot.press("escape")
        await open_detail(pilot, "crest-0005")
        await shows(pilot, "Availability, last 30 d (only 2.0 d of data)")


async def test_grid_availability_names_its_period_and_hides_thin_figures(
    tmp_path: Path,
) -> None:
    app = make_app(make_source(10), tmp_path)
    async with app.run_test(size=(140, 20)) as pilot:
        await until(pilot, loaded(app))
        text = await shows(pilot, "Avail 30d")
        lines = {line.split()[2]: line for line in text.splitlines() if "CREST-" in line}
        assert lines["CREST-0001"].rstrip().endswith(" 99.80%")
        assert lines["CREST-0005"].rstrip().endswith("~100.00%"), "two days: marked partial"
        assert lines["CREST-0007"].rstrip().endswith(" n/a"), "three hours: no figure at all"
        assert lines["CREST-0009"].rstrip().endswith(" n/a")
        assert re.search(r"cpu \(3\) ✉ +99\.60%$", lines["CREST-0002"].rstrip()), "alerted"


def test_plots_leave_gaps_blank_and_name_the_period() -> None:
    from console.tui.plot import axis, buckets, spark

    since = NOW - timedelta(hours=4)
    points = [(since + timedelta(minutes=15 * i), float(i)) for i in range(8)]  # first 2 h only
    values = buckets(points, since, NOW, 8)
    assert values[4:] == [None] * 4, "no data: no bar"
    line = spark(values, 10.0)
    assert len(line) == 8 and line.endswith("    ") and line[0] == "▁"
    assert axis(since, NOW, 40).split() == ["08:00", "10:00", "12:00"]
    week = axis(NOW - timedelta(days=7), NOW, 60).split()
    assert week == ["11-15", "12:00", "11-19", "00:00", "11-22", "12:00"]


def test_a_mail_html_body_reads_as_text() -> None:
    from console.mail.notify import NotifySettings, ServerFacts, render
    from console.monitor.alerting import Alert
    from console.monitor.sample import Reason
    from console.tui.htmltext import html_to_text

    facts = ServerFacts("s1", "CREST-1", "c", "Brouwerij <Oost>", "i", "Kaspar", ("a@b.be",), "nl")
    reason = Reason.of("camera_offline", name="Poort & hof", stream="NoConnection")
    alert = Alert("s1", "camera", "c1", "Poort & hof", 3, NOW, NOW, 3, 0.0, "", reason=reason)
    text = html_to_text(render("alert", [alert], facts, NotifySettings()).body_html)
    assert "Klant         Brouwerij <Oost>" in text
    assert "Afwijking: Camera offline: Poort & hof" in text
    assert "Huidige waarde: Poort & hof: camera offline (geen verbinding)" in text
    assert "<" not in text.replace("<Oost>", "") and "&amp;" not in text


# --- live updates --------------------------------------------------------------------


async def test_live_updates_repaint_only_changed_rows(tmp_path: Path) -> None:
    source = make_source(200)
    app = make_app(source, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, loaded(app))
        await shows(pilot, "CREST-0004")
        grid = grid_of(app)
        top = grid.model.row_at(0)
        await until(pilot, lambda: grid.lines_rendered > 0)
        before = grid.lines_rendered
        source.push([dataclasses.replace(top, disk_write_bps=12.0)], next_cycle=NOW)
        await until(pilot, lambda: app.batches == 1)
        await shows(pilot, "12 B/s")
        assert grid.model.get(top.server_id).disk_write_bps == 12.0  # type: ignore[union-attr]
        assert 0 < grid.lines_rendered - before <= 3
        down = app.status.counts.down
        source.push([make_row(0, status="down", cameras_online=None, failing=())])
        await until(pilot, lambda: app.status.counts.down == down + 1)
        await source.close()
        await until(pilot, lambda: app.status.closed)
        await shows(pilot, "disconnected")


class FailingSource(MemorySource):
    async def server_detail(self, server_id: str) -> Any:
        raise RuntimeError("daemon connection reset")

    async def outbox(self, limit: int = 100) -> Any:
        raise OSError("outbox table is locked")


async def test_source_errors_become_notifications_not_crashes(tmp_path: Path) -> None:
    source = FailingSource(make_rows(10), clock=clock)
    app = make_app(source, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, loaded(app))
        await pilot.press("enter")
        await until(pilot, lambda: "daemon connection reset" in notes(app))
        await pilot.press("escape", "3")
        await until(pilot, lambda: "outbox table is locked" in notes(app))
        assert app.is_running


# --- SQL -----------------------------------------------------------------------------


async def run_sql(pilot: Pilot[Any], app: NlsApp, query: str) -> SqlScreen:
    await until(pilot, lambda: isinstance(app.screen, SqlScreen))
    screen = app.screen
    assert isinstance(screen, SqlScreen)
    before = screen.runs
    screen.query_text = query
    screen.query_one(TextArea).focus()
    await pilot.press("ctrl+r")
    await until(pilot, lambda: screen.runs > before)
    return screen


async def test_sql_query_error_inline_history_and_exports(tmp_path: Path) -> None:
    app = make_app(make_source(30), tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, loaded(app))
        await pilot.press("2")
        screen = await run_sql(
            pilot, app, "SELECT installer_id, count(*) n FROM servers GROUP BY 1"
        )
        await shows(pilot, "3 rows, 2 columns", "secutec")
        assert screen.table.num_rows == 3

        await run_sql(pilot, app, "SELECT nope FROM servers")
        status = screen.query_one("#sql-status", Static)
        assert status.has_class("error")
        await shows(pilot, "nope")
        assert screen.table.num_rows == 3, "a failed query keeps the previous result"

        await run_sql(pilot, app, "SELECT server_id, cpu_pct FROM servers ORDER BY 1")
        await until(pilot, lambda: not status.has_class("error"))
        for key, fmt in (("ctrl+s", "csv"), ("ctrl+t", "parquet")):
            target = tmp_path / f"out.{fmt}"
            await pilot.press(key)
            await until(pilot, lambda: isinstance(app.screen, ExportScreen))
            app.screen.query_one(Input).value = str(target)
            await pilot.press("enter")
            await until(pilot, lambda target=target: any(str(target) in n for n in notes(app)))
        assert pacsv.read_csv(tmp_path / "out.csv").num_rows == 30
        assert pq.read_table(tmp_path / "out.parquet").column_names == ["server_id", "cpu_pct"]

        # Accepting the proposed path writes into the export folder (created on demand), never
        # the current one, and the notice says where.
        await pilot.press("ctrl+s")
        assert isinstance(app.screen, ExportScreen)
        proposed = Path(app.screen.query_one(Input).value)
        assert proposed.parent == app.export_dir
        await pilot.press("enter")
        await until(pilot, lambda: any(str(proposed) in n for n in notes(app)))
        assert pacsv.read_csv(proposed).num_rows == 30
        assert not list(Path.cwd().glob("nls-query-*"))

        assert screen.history.queries[0].startswith("SELECT server_id")
        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(app.screen, PickerScreen))
        await pilot.press("down", "down", "enter")
        await until(pilot, lambda: screen.query_text == "SELECT nope FROM servers")
        await pilot.press("ctrl+n")
        await until(pilot, lambda: screen.query_text == "")
    history = (tmp_path / "state" / "sql_history.jsonl").read_text()
    assert history.count("\n") == 3

    app = make_app(make_source(3), tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        await until(pilot, lambda: isinstance(app.screen, SqlScreen))
        screen = app.screen
        assert isinstance(screen, SqlScreen)
        assert screen.query_text.startswith("SELECT server_id"), "history survives a restart"


async def test_sql_says_when_result_columns_are_off_screen(tmp_path: Path) -> None:
    app = make_app(make_source(5), tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, loaded(app))
        await pilot.press("2")
        await run_sql(pilot, app, "SELECT * FROM servers")
        await shows(pilot, "columns fit: → scrolls right")
        await run_sql(pilot, app, "SELECT server_id FROM servers")
        text = await shows(pilot, "5 rows, 1 column")
        assert "scrolls right" not in text


def test_the_example_query_names_every_table_of_the_store(tmp_path: Path) -> None:
    from console.store.database import Store

    with Store(tmp_path / "nls.duckdb") as store:
        tables = {
            r["table_name"]
            for r in store.query(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
            ).to_pylist()
        }
        # every table named can be read by client SQL, inside the sandbox (read-only, no files)
        for table in store_tables():
            store.query(f"SELECT count(*) FROM {table}")
    comment = " ".join(line for line in default_query().splitlines() if line.startswith("--"))
    tables.discard("schema_version")  # the store's own bookkeeping, not for queries
    assert tables == set(store_tables())
    for table in tables:
        assert f" {table}," in comment + "," or f" {table}\n" in comment, table
    assert {"alert_state", "findings"} <= tables


# --- maintenance and mail ------------------------------------------------------------


async def test_maintenance_add_and_remove_in_the_scopes_zone(tmp_path: Path) -> None:
    source = make_source(30)
    app = make_app(source, tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, loaded(app))
        grid_of(app).select_server("crest-0008")  # a Lux SA server: Europe/Luxembourg
        await pilot.press("4")
        await until(pilot, lambda: isinstance(app.screen, MaintenanceScreen))
        screen = app.screen
        assert isinstance(screen, MaintenanceScreen)
        # 11:00 to 14:00 UTC is 12:00 to 15:00 in Brussels, the customer's zone.
        await shows(
            pilot,
            "1 window, 1 active now",
            "firmware upgrade",
            "ACTIVE",
            "2026-11-22 12:00→15:00 Europe/Brussels",
        )
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, MaintenanceForm))
        form = app.screen
        assert isinstance(form, MaintenanceForm)
        assert form.query_one("#scope_id", Input).value == "crest-0008"
        zone = form.query_one("#timezone", Input)
        # empty: the window takes the scope's zone when saved; the form names it meanwhile
        assert zone.value == "" and "Europe/Luxembourg" in str(zone.placeholder)
        form.query_one("#cron", Input).value = "0 2 * * sun"
        form.query_one("#duration", Input).value = "90"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "reason is empty" in str(form.query_one("#form-error").render()))
        form.query_one("#reason", Input).value = "weekly reboot"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: len(screen.windows) == 2)
        added = screen.windows[1]
        assert (added.scope_id, added.cron, added.timezone, added.duration_min) == (
            "crest-0008",
            "0 2 * * sun",
            "Europe/Luxembourg",
            90,
        )
        await shows(pilot, "2 windows, 1 active now", "0 2 * * sun Europe/Luxembourg for 90 min")
        table = screen.query_one(DataTable)
        table.move_cursor(row=0)
        await pilot.press("d")
        await until(pilot, lambda: app.screen is not screen)
        await pilot.press("n")
        await until(pilot, lambda: app.screen is screen)
        assert len(screen.windows) == 2
        await pilot.press("d")
        await until(pilot, lambda: app.screen is not screen)
        await pilot.press("y")
        await until(pilot, lambda: len(screen.windows) == 1)
        assert screen.windows[0].id == 2
        await until(pilot, lambda: source.row("crest-0003").status != "maintenance")


async def test_the_form_reads_local_times_in_the_scopes_zone() -> None:
    """The form and `nls maintenance add` share `read_window`: no offset means the scope's zone
    (here an installer in London), not the machine's or Brussels'."""
    source = make_source(5)
    installer = (await source.snapshot()).rows[0].installer_id
    source.zones[installer] = "Europe/London"
    text = form_text(
        {
            "scope_id": installer,
            "start": "2026-07-23 22:00",
            "end": "2026-07-24 02:00",
            "reason": "network works",
        },
        scope_kind="installer",
    )
    window = await read_window(source, text, now=NOW, user="ops")
    assert window.starts == datetime(2026, 7, 23, 21, 0, tzinfo=UTC)
    assert window.ends == datetime(2026, 7, 24, 1, 0, tzinfo=UTC)
    assert window.timezone is None and window.cron is None and window.created_by == "ops"
    with pytest.raises(NotFound, match="no server 'ghost'"):
        await read_window(source, form_text({"scope_id": "ghost"}, scope_kind="server"), now=NOW)


async def test_mail_list_shows_every_status_in_full_and_opens_a_mail(tmp_path: Path) -> None:
    app = make_app(make_source(5), tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("3")
        await until(pilot, lambda: isinstance(app.screen, OutboxScreen))
        text = await shows(
            pilot,
            "3 mails: 1 failed, 1 pending, 1 sent",
            "550 mailbox unavailable",
            "CREST-0004: server offline",
        )
        assert " pending " in text and " pendin " not in text
        table = app.screen.query_one(DataTable)
        table.move_cursor(row=2)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, MailScreen))
        await shows(pilot, "Status   sent", "the text body", "(Eocortex: verbinding geweigerd)")
        await pilot.press("h")
        text = await shows(
            pilot, "the HTML body, rendered as text", "Afwijking: Server niet online"
        )
        assert "<td>" not in text and "<title>" not in text
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, OutboxScreen))


async def test_the_mail_list_says_why_mail_waits(tmp_path: Path) -> None:
    app = make_app(make_source(5, mail_enabled=False), tmp_path)
    async with app.run_test(size=(140, 30)) as pilot:
        await until(pilot, lambda: app.source_info is not None)
        await pilot.press("3")
        await shows(pilot, "no SMTP server is configured ([smtp]): mails are kept, not sent")


def test_every_key_description_fits_one_help_line() -> None:
    """The help box shows 70 cells of text: a longer line wraps under the key column."""
    from console.tui.bindings import COMMANDS

    for command in COMMANDS:
        line = f"  {command.key_display:<14}{command.description}"
        assert len(line) <= 70, line


# --- command palette -----------------------------------------------------------------


async def test_palette_runs_actions_and_goes_to_a_server(tmp_path: Path) -> None:
    app = make_app(make_source(30), tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, loaded(app))
        await pilot.press("2", "escape")
        await pilot.press("ctrl+p", *"only failing servers")
        await shows(pilot, "Only failing servers")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, FleetScreen))
        await until(
            pilot, lambda: grid_of(app).filter.statuses == frozenset({"pending", "problem", "down"})
        )
        await pilot.press("ctrl+p", *"go to server crest-0013")
        await shows(pilot, "CREST-0013")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, DetailScreen))
        assert app.screen.server_id == "crest-0013"  # type: ignore[attr-defined]
        assert grid_of(app).cursor_server_id == "crest-0013"
        assert grid_of(app).filter.is_empty, "a hidden server clears the filter"
        await pilot.press("ctrl+p", *"maintenance windows")
        await shows(pilot, "Maintenance windows")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, MaintenanceScreen))


# --- 10,000 servers ------------------------------------------------------------------


async def test_ten_thousand_servers_load_and_filter(tmp_path: Path) -> None:
    """Behaviour only; the time it takes is bench/bench_console.py's to measure."""
    source = make_source(10_000)
    app = make_app(source, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, loaded(app), limit=120)
        grid = grid_of(app)
        assert grid.model.total == 10_000
        failing = {"pending", "problem", "down"}
        rows = list(grid.model.rows())
        expected = sum(r.status in failing for r in rows)
        await pilot.press("p")
        await until(pilot, lambda: len(grid.model) == expected)
        matching = sum(r.status in failing and r.server_id.startswith("crest-09") for r in rows)
        await pilot.press("slash", *"crest-09")
        await until(pilot, lambda: len(grid.model) == matching)
        assert statuses(app) <= failing
        await shows(pilot, f"{matching}/10000 shown")


# --- snapshots -----------------------------------------------------------------------
# Each waits for the screen to show what it must before the picture is taken. Read every one
# as an operator would before accepting a change to it: tests/__snapshots__/.


def snapshot_app(tmp_path: Path, **options: Any) -> NlsApp:
    return make_app(make_source(40), tmp_path, **options)


async def settle(pilot: Pilot[Any], *texts: str) -> None:
    app = pilot.app
    await until(pilot, loaded(app))  # type: ignore[arg-type]
    await shows(pilot, "CREST-0004", "next", *texts)


@pytest.mark.parametrize("size", [(80, 24), (140, 40)])
def test_snapshot_fleet(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    assert snap_compare(snapshot_app(tmp_path), run_before=settle, terminal_size=size)


def test_snapshot_fleet_light_filtered(snap_compare: Any, tmp_path: Path) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("f9", "p")
        await until(pilot, lambda: not pilot.app.current_theme.dark)
        await shows(pilot, "11/40")

    assert snap_compare(snapshot_app(tmp_path), run_before=run_before, terminal_size=(80, 24))


def test_snapshot_scoped(snap_compare: Any, tmp_path: Path) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await until(pilot, loaded(pilot.app))  # type: ignore[arg-type]
        await shows(pilot, "installer secutec only", "CREST-0003")

    app = snapshot_app(tmp_path, installer="secutec")
    assert snap_compare(app, run_before=run_before, terminal_size=(80, 24))


@pytest.mark.parametrize("server", ["crest-0002", "crest-0004"])
def test_snapshot_detail(snap_compare: Any, tmp_path: Path, server: str) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await open_detail(pilot, server)
        await shows(pilot, "Cameras: ", "History, last 24 h", "Latest samples")

    assert snap_compare(snapshot_app(tmp_path), run_before=run_before, terminal_size=(100, 50))


def test_snapshot_sql(snap_compare: Any, tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(SqlScreen, "show_timing", False)

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("2")
        await run_sql(
            pilot,
            pilot.app,  # type: ignore[arg-type]
            "SELECT installer_name, status, count(*) AS n\nFROM servers GROUP BY ALL ORDER BY ALL",
        )
        await shows(pilot, "18 rows, 3 columns", "Alarmes Wallonie")
        # Into the results, as esc does: the editor's blinking cursor would be drawn or not
        # depending on when the picture is taken.
        await pilot.press("escape")
        await until(pilot, lambda: pilot.app.screen.query_one("#result-table").has_focus)

    assert snap_compare(snapshot_app(tmp_path), run_before=run_before, terminal_size=(80, 24))


@pytest.mark.parametrize(
    ("key", "marker"),
    [
        ("3", "3 mails: 1 failed"),
        ("4", "1 window, 1 active now"),
        ("f1", "Show every key binding"),
    ],
)
def test_snapshot_other_screens(snap_compare: Any, tmp_path: Path, key: str, marker: str) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press(key)
        await shows(pilot, marker)

    assert snap_compare(snapshot_app(tmp_path), run_before=run_before, terminal_size=(80, 24))


def test_snapshot_mail(snap_compare: Any, tmp_path: Path) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("3")
        await shows(pilot, "3 mails")
        app = pilot.app
        app.screen.query_one(DataTable).move_cursor(row=2)  # the sent one, oldest
        await pilot.press("enter")
        await shows(pilot, "the text body", "Huidige waarde")

    assert snap_compare(snapshot_app(tmp_path), run_before=run_before, terminal_size=(80, 24))


# --- on a real engine ----------------------------------------------------------------


@pytest.fixture
async def service(tmp_path: Path) -> Any:
    """A real FleetService (no schedule: the test drives cycles) over a simulated fleet with
    HTTP, SSH and RDP, a real DuckDB file; stopped at teardown."""
    from console.config import load_config
    from console.monitor.service import FleetService
    from console.simconfig import write_sim_config
    from probes.simulator.fleet import build_fleet
    from probes.simulator.hosts import add_host_protocols

    fleet = build_fleet(6, cameras=5, http_port=0, base="127.83.0.1")
    key = add_host_protocols(fleet, ssh_port=0, rdp_port=0)
    await fleet.start()
    path = write_sim_config(tmp_path / "nls.toml", fleet, host_key=key, installers=2, customers=4)
    text = path.read_text().replace('interval = "15m"', 'interval = "15m"\nsample_window = "1s"')
    path.write_text(text)
    svc = FleetService(load_config(path), schedule=False)
    await svc.start()
    svc.fleet = fleet  # type: ignore[attr-defined]
    try:
        yield svc
    finally:
        await svc.stop()
        await fleet.stop()


def real_app(source: Any, tmp_path: Path, installer: str | None = None) -> NlsApp:
    return NlsApp(source, installer=installer, state_dir=tmp_path / "state", watch_hangup=False)


async def test_console_on_a_real_engine_follows_faults(service: Any, tmp_path: Path) -> None:
    await service.run_cycle()
    app = real_app(service.view(), tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, loaded(app))
        grid = grid_of(app)
        assert grid.model.total == 6 and app.status.counts.up == 6
        service.fleet.set_fault("crest-0002", "camera_offline", camera=1)
        service.fleet.set_fault("crest-0003", "port_closed")
        await service.run_cycle(["crest-0002", "crest-0003"])
        await until(pilot, lambda: app.status.counts.cameras_offline == 1)
        await until(pilot, lambda: grid.model.get("crest-0003").status != "up")  # type: ignore[union-attr]
        await shows(pilot, "4/5", "cam (1)")
        grid.select_server("crest-0002")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, DetailScreen))
        screen = app.screen
        assert isinstance(screen, DetailScreen)
        await until(pilot, lambda: screen.detail is not None)
        name = service.fleet.server("crest-0002").cameras[1].name
        await shows(pilot, "Cameras: 4/5 online", f"camera        {name}: camera offline")
        states = [c.state for c in screen.detail.cameras]  # type: ignore[union-attr]
        assert states.count("ok") == 4
        await pilot.press("n")
        await until(pilot, lambda: any("samples stored" in n for n in notes(app)))
        await pilot.press("escape", "2")
        sql = await run_sql(
            pilot,
            app,
            "SELECT count(DISTINCT server) AS servers FROM samples WHERE check_name = 'cpu'",
        )
        status = sql.query_one("#sql-status", Static)
        assert not status.has_class("error"), status.render()
        assert sql.table.to_pylist() == [{"servers": 6}]
        await run_sql(pilot, app, "DELETE FROM samples")
        assert sql.query_one("#sql-status", Static).has_class("error")
        text = (await shows(pilot, "DELETE")).lower()
        assert "read-only" in text or "readonly" in text or "not allowed" in text


async def test_scoped_console_on_a_real_engine(service: Any, tmp_path: Path) -> None:
    await service.run_cycle()
    everything = (await service.view().snapshot()).rows
    mine = sorted({r.installer_id for r in everything})[0]
    foreign = [r for r in everything if r.installer_id != mine]
    app = real_app(service.view(mine), tmp_path, installer=mine)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, loaded(app))
        grid = grid_of(app)
        assert {r.installer_id for r in grid.model.rows()} == {mine}
        service.fleet.set_fault(foreign[0].server_id, "port_closed")
        await service.run_cycle()
        await until(pilot, lambda: app.batches >= 1)
        assert grid.model.get(foreign[0].server_id) is None
        text = await shows(pilot, f"installer {mine} only")
        assert not any(r.name in text for r in foreign)
        await pilot.press("2", "p")  # "2" does nothing here; "p" shows the keys were read
        await shows(pilot, "filter: down, problem or pending")
        assert isinstance(app.screen, FleetScreen)
        app.open_detail(foreign[0].server_id)
        await until(pilot, lambda: any(foreign[0].server_id in n for n in notes(app)))


class BrokenStream(MemorySource):
    async def updates(self) -> Any:
        raise ConnectionResetError("daemon went away")
        yield ()


async def test_a_broken_update_stream_shows_disconnected(tmp_path: Path) -> None:
    app = make_app(BrokenStream(make_rows(5), clock=clock), tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.status.closed)
        await until(pilot, lambda: "daemon went away" in notes(app))
        await shows(pilot, "disconnected")
