"""The console app: navigation, filters, the scoped installer view, detail, SQL, maintenance,
outbox, palette and live updates, driven with Pilot; snapshots of the main screens at a fixed
clock over deterministic data (an in-memory FleetSource), and the same app on a real engine."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, OptionList, Sparkline, Static, TextArea

from console.errors import NotFound
from console.fleetview import Failing, MailRow, ServerRow
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
from console.tui.screens.outbox import OutboxScreen
from console.tui.screens.picker import PickerScreen
from console.tui.screens.sql import ExportScreen, SqlScreen
from tests.memsource import MemorySource

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
INSTALLERS = (
    ("secutec", "Secutec Beveiliging"),
    ("alarmes", "Alarmes Wallonie"),
    ("lux", "Lux SA"),
)
STATUS_CYCLE = ("up", "up", "problem", "up", "down", "quiet", "up", "maintenance", "up", "unknown")


def clock() -> datetime:
    return NOW


def make_row(n: int, **changes: Any) -> ServerRow:
    """Row ``n``: three installers, nine customers, every status, deterministic values."""
    status = STATUS_CYCLE[n % len(STATUS_CYCLE)]
    installer_id, installer_name = INSTALLERS[n % 3]
    customer = n % 9
    failing: tuple[Failing, ...] = ()
    if status == "problem":
        failing = (
            Failing("camera", "cam1", 3, "no frames for 20 min"),
            Failing("cpu", "", 1, "99% busy"),
        )
    elif status == "down":
        failing = (Failing("server_online", "", 4, "connection refused"),)
    row = ServerRow(
        server_id=f"crest-{n:04d}",
        name=f"CREST-{n:04d}",
        customer_id=f"cust-{customer}",
        customer_name=f"{('Brewery', 'Hospital', 'School')[customer % 3]} {customer}",
        installer_id=installer_id,
        installer_name=installer_name,
        status=status,  # type: ignore[arg-type]
        cameras_online=None if status == "down" else 16 - (1 if status == "problem" else 0),
        cameras_total=16,
        cpu_pct=None if status == "down" else float((n * 37) % 100),
        disk_write_bps=None if status == "down" else float(1_000_000 + n * 123_457),
        last_check=NOW - timedelta(seconds=30 + n * 11),
        failing=failing,
        availability_30d=1.0 - (n % 5) * 0.002,
    )
    return dataclasses.replace(row, **changes) if changes else row


def make_rows(count: int) -> list[ServerRow]:
    return [make_row(n) for n in range(count)]


MAILS = [
    MailRow(
        key="m1",
        created=NOW - timedelta(hours=2),
        kind="alert",
        server="crest-0004",
        installer="secutec",
        recipients=("ops@secutec.example",),
        subject="CREST-0004: server offline",
        status="sent",
        attempts=1,
        last_error=None,
        sent_at=NOW - timedelta(hours=2),
    ),
    MailRow(
        key="m2",
        created=NOW - timedelta(hours=1),
        kind="recovery",
        server="crest-0002",
        installer="lux",
        recipients=("noc@lux.example",),
        subject="CREST-0002: cameras back online",
        status="failed",
        attempts=5,
        last_error="550 mailbox unavailable",
        sent_at=None,
    ),
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
    return NlsApp(source, clock=clock, state_dir=tmp_path / "state", watch_hangup=False, **options)


async def until(pilot: Pilot[Any], predicate: Callable[[], Any], limit: float = 10.0) -> None:
    """Let the app run until `predicate()` holds; fails after `limit` seconds."""
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {predicate}")
        await pilot.pause()


def grid_of(app: NlsApp) -> FleetGrid:
    fleet = app.fleet_screen()
    assert fleet is not None
    return fleet.grid


def loaded(app: NlsApp) -> Callable[[], bool]:
    return lambda: app.snapshot_rows is not None and grid_of(app).model.total > 0


def screen_text(app: NlsApp) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def idle(app: NlsApp) -> bool:
    """No worker runs but the endless one that follows the source."""
    return not any(w.is_running for w in app.workers if w.group != "source")


def notes(app: NlsApp) -> list[str]:
    return [n.message for n in app._notifications]


# --- main screen and navigation ------------------------------------------------------


async def test_main_screen_at_80x24_shows_grid_counts_and_mode(tmp_path: Path) -> None:
    app = make_app(make_source(30), tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, loaded(app))
        await pilot.pause()
        text = screen_text(app)
        assert isinstance(app.screen, FleetScreen)
        assert "15 up" in text and "3 problem" in text and "3 down" in text
        assert "embedded" in text and "next cycle 1:35" in text
        assert "30 servers" in text and "filter: all" in text
        assert "CREST-0004" in text and "✖ DOWN" in text
        assert app.status.counts.cameras_offline == 3


async def test_navigation_between_every_screen(tmp_path: Path) -> None:
    app = make_app(make_source(30), tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, loaded(app))
        await pilot.press("2")
        assert isinstance(app.screen, SqlScreen)
        await pilot.press("escape", "3")
        assert isinstance(app.screen, OutboxScreen)
        await pilot.press("4")
        assert isinstance(app.screen, MaintenanceScreen)
        await pilot.press("question_mark")
        assert "Show every key binding" in screen_text(app)
        await pilot.press("escape", "1")
        assert isinstance(app.screen, FleetScreen)
        await pilot.press("enter")
        assert isinstance(app.screen, DetailScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, FleetScreen)
        await pilot.press("f9")
        assert not app.current_theme.dark
        await pilot.press("ctrl+q")
    assert app.return_code == 0


# --- filters -------------------------------------------------------------------------


async def test_search_filters_as_you_type_and_shows_in_header(tmp_path: Path) -> None:
    app = make_app(make_source(30), tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, loaded(app))
        await pilot.press("slash", *"0001")
        grid = grid_of(app)
        assert grid.model.visible_ids() == ["crest-0001"]
        await pilot.press("backspace")
        assert len(grid.model) == 10
        await pilot.press("enter")
        assert grid.has_focus
        assert '"000"' in screen_text(app)
        await pilot.press("slash", *"hospital")
        assert {grid.model.get(s).customer_name.split()[0] for s in grid.model.visible_ids()} == {
            "Hospital"
        }


async def test_status_filters(tmp_path: Path) -> None:
    app = make_app(make_source(30), tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, loaded(app))
        grid = grid_of(app)

        def statuses() -> set[str]:
            return {grid.model.get(s).status for s in grid.model.visible_ids()}  # type: ignore[union-attr]

        await pilot.press("f")
        assert statuses() == {"problem", "down"}
        assert "filter: problems" in screen_text(app)
        await pilot.press("f")
        assert statuses() == {"quiet"}
        await pilot.press("f")
        assert statuses() == {"maintenance"}
        await pilot.press("f")
        assert len(grid.model) == 30
        await pilot.press("p")
        assert statuses() == {"problem", "down"}
        await pilot.press("u")
        assert statuses() == {"quiet"}
        await pilot.press("m")
        assert statuses() == {"maintenance"}
        await pilot.press("a")
        assert len(grid.model) == 30


async def test_installer_and_customer_pickers_then_clear(tmp_path: Path) -> None:
    app = make_app(make_source(30), tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, loaded(app))
        grid = grid_of(app)
        await pilot.press("i")
        assert isinstance(app.screen, PickerScreen)
        assert app.screen.query_one(OptionList).option_count == 4
        await pilot.press(*"lux", "enter")
        assert {grid.model.get(s).installer_id for s in grid.model.visible_ids()} == {"lux"}  # type: ignore[union-attr]
        assert "installer=lux" in screen_text(app)
        await pilot.press("c")
        picker = app.screen
        assert isinstance(picker, PickerScreen)
        assert picker.query_one(OptionList).option_count == 4  # "all" + lux's three customers
        await pilot.press("down", "down", "enter")
        flt = grid.filter
        assert flt.installer_id == "lux" and flt.customer_id is not None
        assert {grid.model.get(s).customer_id for s in grid.model.visible_ids()} == {  # type: ignore[union-attr]
            flt.customer_id
        }
        await pilot.press("i", "escape")
        assert grid.filter == flt
        await pilot.press("x")
        assert grid.filter.is_empty and len(grid.model) == 30
        await pilot.press("i", "enter")
        assert grid.filter.installer_id is None


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
        text = screen_text(app)
        assert "installer lux only" in text and "10 servers" in text
        assert not any(name in text for name in foreign)
        source.push([make_row(1, cpu_pct=1.0), make_row(2, cpu_pct=2.0)])
        await until(pilot, lambda: app.batches == 1)
        assert grid.model.get("crest-0001") is None
        assert grid.model.get("crest-0002").cpu_pct == 2.0  # type: ignore[union-attr]
        await pilot.press("i")
        picker = app.screen
        assert isinstance(picker, PickerScreen)
        labels = [str(o.prompt) for o in picker.query_one(OptionList).options]
        assert labels[1:] == ["Lux SA  (lux, 10 servers)"]
        await pilot.press("escape", "2")
        assert isinstance(app.screen, FleetScreen), "SQL is not offered at all"
        assert "SQL" not in screen_text(app).splitlines()[-1]
        app.set_focus(None)
        await pilot.press("question_mark")
        assert "Ad-hoc read-only SQL" not in screen_text(app)
        await pilot.press("escape", "ctrl+p", *"CREST-000")
        await until(pilot, lambda: "Go to server" in screen_text(app))
        text = screen_text(app)
        assert "CREST-0002" in text and "CREST-0005" in text
        assert not any(name in text for name in foreign)
        await pilot.press("escape")
        await pilot.press("ctrl+p", *"sql")
        await pilot.pause()
        assert "Ad-hoc read-only SQL" not in screen_text(app)
        await pilot.press("escape")
        if source_scoped:
            app.open_detail("crest-0001")
            await until(pilot, lambda: any("crest-0001" in n for n in notes(app)))
            assert "CREST-0000" not in screen_text(app)


# --- detail --------------------------------------------------------------------------


async def test_detail_screen_shows_cameras_history_samples_and_availability(
    tmp_path: Path,
) -> None:
    source = make_source(30)
    app = make_app(source, tmp_path)
    async with app.run_test(size=(100, 50)) as pilot:
        await until(pilot, loaded(app))
        grid_of(app).select_server("crest-0002")
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, DetailScreen)
        await until(pilot, lambda: screen.detail is not None)
        await until(pilot, lambda: screen.query_one("#cpu", Sparkline).data)
        cameras = screen.query_one("#cameras", DataTable)
        assert cameras.row_count == 16
        text = screen_text(app)
        assert "CREST-0002" in text and "▲ PROB" in text
        assert "Cameras: 15/16 online" in text
        assert "no frames for 20 min" in text
        assert "server_online 99.60%" in text
        assert "History over 24 h" in text
        latest = screen.query_one("#latest", DataTable)
        assert latest.row_count == 5
        await pilot.press("t")
        await until(pilot, lambda: "History over 7 d" in screen_text(app))
        await pilot.press("t")
        await until(pilot, lambda: "History over 30 d" in screen_text(app))
        await pilot.press("n")
        await until(pilot, lambda: source.checks_requested == [("crest-0002",)])
        source.push([make_row(2, status="up", failing=(), cameras_online=16)])
        await until(pilot, lambda: "Cameras: 16/16 online" in screen_text(app))
        await pilot.press("escape")
        assert isinstance(app.screen, FleetScreen)


# --- live updates --------------------------------------------------------------------


async def test_live_updates_repaint_only_changed_rows(tmp_path: Path) -> None:
    source = make_source(200)
    app = make_app(source, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, loaded(app))
        await pilot.pause()
        grid = grid_of(app)
        top = grid.model.row_at(0)
        before = grid.lines_rendered
        source.push([dataclasses.replace(top, cpu_pct=12.0)], next_cycle=NOW + timedelta(60))
        await until(pilot, lambda: app.batches == 1)
        await pilot.pause()
        assert grid.model.get(top.server_id).cpu_pct == 12.0  # type: ignore[union-attr]
        assert 0 < grid.lines_rendered - before <= 3
        source.push([make_row(0, status="down", cameras_online=None, failing=())])
        await until(pilot, lambda: app.status.counts.down == 21)
        await source.close()
        await until(pilot, lambda: app.status.closed)
        assert "disconnected" in screen_text(app)


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
    screen = app.screen
    assert isinstance(screen, SqlScreen)
    screen.query_text = query
    screen.query_one(TextArea).focus()
    await pilot.press("ctrl+r")
    await until(pilot, lambda: "running" not in str(screen.query_one("#sql-status").render()))
    return screen


async def test_sql_query_error_inline_history_and_exports(tmp_path: Path) -> None:
    app = make_app(make_source(30), tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, loaded(app))
        await pilot.press("2")
        screen = await run_sql(
            pilot, app, "SELECT installer_id, count(*) n FROM servers GROUP BY 1"
        )
        await until(pilot, lambda: screen.query("#result-table"))
        assert screen.table.num_rows == 3
        assert "3 rows, 2 columns" in screen_text(app)
        assert "secutec" in screen_text(app)

        await run_sql(pilot, app, "SELECT nope FROM servers")
        status = screen.query_one("#sql-status", Static)
        assert status.has_class("error")
        assert "nope" in screen_text(app)
        assert screen.table.num_rows == 3, "a failed query keeps the previous result"

        await run_sql(pilot, app, "SELECT server_id, cpu_pct FROM servers ORDER BY 1")
        await until(pilot, lambda: not status.has_class("error"))
        for key, fmt in (("ctrl+s", "csv"), ("ctrl+t", "parquet")):
            target = tmp_path / f"out.{fmt}"
            await pilot.press(key)
            assert isinstance(app.screen, ExportScreen)
            app.screen.query_one(Input).value = str(target)
            await pilot.press("enter")
            await until(pilot, lambda target=target: any(str(target) in n for n in notes(app)))
        assert pacsv.read_csv(tmp_path / "out.csv").num_rows == 30
        assert pq.read_table(tmp_path / "out.parquet").column_names == ["server_id", "cpu_pct"]

        assert screen.history.queries[0].startswith("SELECT server_id")
        await pilot.press("ctrl+o")
        assert isinstance(app.screen, PickerScreen)
        await pilot.press("down", "down", "enter")
        assert screen.query_text == "SELECT nope FROM servers"
    history = (tmp_path / "state" / "sql_history.jsonl").read_text()
    assert history.count("\n") == 3

    app = make_app(make_source(3), tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        screen = app.screen
        assert isinstance(screen, SqlScreen)
        assert screen.query_text.startswith("SELECT server_id"), "history survives a restart"


# --- maintenance and outbox ----------------------------------------------------------


async def test_maintenance_add_and_remove(tmp_path: Path) -> None:
    source = make_source(30)
    app = make_app(source, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, loaded(app))
        grid_of(app).select_server("crest-0007")
        await pilot.press("4")
        screen = app.screen
        assert isinstance(screen, MaintenanceScreen)
        await until(pilot, lambda: screen.windows)
        await pilot.pause()
        assert "firmware upgrade" in screen_text(app) and "ACTIVE" in screen_text(app)
        await pilot.press("a")
        form = app.screen
        assert isinstance(form, MaintenanceForm)
        assert form.query_one("#scope_id", Input).value == "crest-0007"
        form.query_one("#cron", Input).value = "0 2 * * sun"
        form.query_one("#duration", Input).value = "90"
        await pilot.press("ctrl+s")
        assert "reason is empty" in str(form.query_one("#form-error", Static).render())
        form.query_one("#reason", Input).value = "weekly reboot"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: len(screen.windows) == 2)
        added = screen.windows[1]
        assert (added.scope_id, added.cron, added.timezone, added.duration_min) == (
            "crest-0007",
            "0 2 * * sun",
            "Europe/Brussels",
            90,
        )
        # the list redraws after the form is gone: wait for it, not for one more frame
        await until(pilot, lambda: "0 2 * * sun Europe/Brussels for 90 min" in screen_text(app))
        await pilot.press("d", "n")
        assert len(screen.windows) == 2
        await pilot.press("d", "y")
        await until(pilot, lambda: len(screen.windows) == 1)
        assert screen.windows[0].id == 2


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


async def test_outbox_lists_sent_and_failed_mail(tmp_path: Path) -> None:
    app = make_app(make_source(5), tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("3")
        screen = app.screen
        await until(pilot, lambda: screen.query_one(DataTable).row_count == 2)
        await pilot.pause()
        text = screen_text(app)
        assert "2 mails, 1 failed" in text
        assert "550 mailbox unavailable" in text and "CREST-0004: server offline" in text


# --- command palette -----------------------------------------------------------------


async def test_palette_runs_actions_and_goes_to_a_server(tmp_path: Path) -> None:
    app = make_app(make_source(30), tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, loaded(app))
        await pilot.press("2", "escape")
        await pilot.press("ctrl+p", *"problems only")
        await until(pilot, lambda: "problems only" in screen_text(app))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, FleetScreen))
        assert grid_of(app).filter.statuses == frozenset({"pending", "problem", "down"})
        await pilot.press("ctrl+p", *"go to server crest-0013")
        await until(pilot, lambda: "CREST-0013" in screen_text(app))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, DetailScreen))
        assert app.screen.server_id == "crest-0013"  # type: ignore[attr-defined]
        assert grid_of(app).cursor_server_id == "crest-0013"
        assert grid_of(app).filter.is_empty, "a hidden server clears the filter"
        await pilot.press("ctrl+p", *"maintenance windows")
        await until(pilot, lambda: "Maintenance windows" in screen_text(app))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, MaintenanceScreen))


# --- 10,000 servers ------------------------------------------------------------------


async def test_ten_thousand_servers_load_and_filter(tmp_path: Path) -> None:
    source = make_source(10_000)
    app = make_app(source, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        started = time.perf_counter()
        await until(pilot, loaded(app), limit=30)
        await pilot.pause()
        load_s = time.perf_counter() - started
        grid = grid_of(app)
        assert grid.model.total == 10_000
        await pilot.press("p")
        assert len(grid.model) == 2_000
        started = time.perf_counter()
        await pilot.press("slash", *"crest-09")
        per_key = (time.perf_counter() - started) / 9
        assert {grid.model.get(s).status for s in grid.model.visible_ids()} <= {"problem", "down"}  # type: ignore[union-attr]
        assert len(grid.model) == 20
        assert "20/10000 shown" in screen_text(app)
        assert load_s < 10 and per_key < 1.0


# --- snapshots -----------------------------------------------------------------------


def snapshot_app(tmp_path: Path, **options: Any) -> NlsApp:
    return make_app(make_source(40), tmp_path, **options)


async def settle(pilot: Pilot[Any]) -> None:
    app = pilot.app
    await until(pilot, loaded(app))  # type: ignore[arg-type]
    await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), (140, 40)])
def test_snapshot_fleet(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    assert snap_compare(snapshot_app(tmp_path), run_before=settle, terminal_size=size)


def test_snapshot_fleet_light_filtered(snap_compare: Any, tmp_path: Path) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("f9", "p")

    assert snap_compare(snapshot_app(tmp_path), run_before=run_before, terminal_size=(80, 24))


def test_snapshot_scoped(snap_compare: Any, tmp_path: Path) -> None:
    app = snapshot_app(tmp_path, installer="secutec")
    assert snap_compare(app, run_before=settle, terminal_size=(80, 24))


def test_snapshot_detail(snap_compare: Any, tmp_path: Path) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("enter")
        screen = pilot.app.screen
        await until(pilot, lambda: screen.detail is not None)  # type: ignore[attr-defined]
        await until(pilot, lambda: screen.query_one("#cpu", Sparkline).data)
        await pilot.pause()

    assert snap_compare(snapshot_app(tmp_path), run_before=run_before, terminal_size=(100, 40))


def test_snapshot_sql(snap_compare: Any, tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(SqlScreen, "show_timing", False)

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("2")
        screen = await run_sql(
            pilot,
            pilot.app,  # type: ignore[arg-type]
            "SELECT installer_name, status, count(*) AS n\nFROM servers GROUP BY ALL ORDER BY ALL",
        )
        await until(pilot, lambda: screen.query("#result-table"))
        await pilot.pause()

    assert snap_compare(snapshot_app(tmp_path), run_before=run_before, terminal_size=(80, 24))


@pytest.mark.parametrize("key", ["3", "4", "f1"])
def test_snapshot_other_screens(snap_compare: Any, tmp_path: Path, key: str) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press(key)
        await until(pilot, lambda: idle(pilot.app))  # type: ignore[arg-type]
        await pilot.pause()

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
        await pilot.pause()
        text = screen_text(app)
        assert "4/5" in text and "camera (1)" in text
        grid.select_server("crest-0002")
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, DetailScreen)
        await until(pilot, lambda: screen.detail is not None)
        await pilot.pause()
        assert "Cameras: 4/5 online" in screen_text(app)
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
        assert "read-only" in screen_text(app).lower() or "readonly" in screen_text(app).lower()


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
        text = screen_text(app)
        assert not any(r.name in text for r in foreign)
        await pilot.press("2")
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
        assert "disconnected" in screen_text(app)
