"""The fleet grid: model unit tests, pilot tests of the widget, snapshots at a fixed clock."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.message import Message
from textual.pilot import Pilot

from console.fleetview import Failing, FleetCounts, ServerRow
from console.tui.grid import FleetGrid
from console.tui.gridmodel import (
    COLUMNS,
    PROBLEM_STATUSES,
    QUIET_STATUSES,
    GridFilter,
    GridModel,
    format_age,
    format_failing,
    format_rate,
    layout_columns,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
STATUS_CYCLE = ("up", "up", "problem", "up", "down", "quiet", "up", "maintenance", "unknown")


def fixed_clock() -> datetime:
    return NOW


def make_row(n: int, **changes: object) -> ServerRow:
    """Deterministic row ``n``: 3 installers, 6 customers, a spread of statuses and values, as
    the engine would report them (a problem's cameras and CPU agree with its failing items; a
    server that does not answer has no camera, CPU or disk figures)."""
    status = STATUS_CYCLE[n % len(STATUS_CYCLE)]
    failing: tuple[Failing, ...] = ()
    online = 30
    cpu: float | None = float((n * 37) % 90)
    if status == "problem":
        failing = (
            Failing("camera", "cam1", 3, "Camera 01: camera offline (NoConnection)"),
            Failing("camera", "cam2", 1, "Camera 02: camera offline (NoConnection)"),
            Failing("cpu", "", 1, "CPU at 99.1% over 5 s (every sample above 98%)"),
        )
        online, cpu = 28, 99.1
    elif status == "down":
        failing = (
            Failing("server_online", "", 4, "server offline: nothing answers (Eocortex: timeout)"),
        )
    row = ServerRow(
        server_id=f"srv-{n:03d}",
        name=f"crest-{n:03d}",
        customer_id=f"c{n % 6}",
        customer_name=f"Customer {'ABCDEF'[n % 6]}",
        installer_id=f"i{n % 3}",
        installer_name=f"Installer {n % 3}",
        status=status,  # type: ignore[arg-type]
        cameras_online=None if status in ("down", "unknown") else online,
        cameras_total=30,
        cpu_pct=None if status in ("down", "unknown") else cpu,
        disk_write_bps=None if status in ("down", "unknown") else float(1e6 + n * 1_234_567),
        last_check=NOW - timedelta(seconds=n * 47),
        failing=failing,
        availability_30d=1.0 - (n % 7) * 0.0013,
        availability_known_s=30 * 86400.0 if n % 11 else 3600.0,
    )
    return dataclasses.replace(row, **changes) if changes else row


def make_rows(count: int) -> list[ServerRow]:
    return [make_row(n) for n in range(count)]


class GridApp(App[None]):
    """The smallest host for a FleetGrid; records the grid's messages."""

    def __init__(self, rows: list[ServerRow], **grid_options: object) -> None:
        super().__init__()
        self.rows = rows
        self.grid_options = grid_options
        self.messages: list[Message] = []

    def compose(self) -> ComposeResult:
        yield FleetGrid(self.rows, clock=fixed_clock, age_refresh=None, **self.grid_options)

    def on_fleet_grid_row_highlighted(self, message: FleetGrid.RowHighlighted) -> None:
        self.messages.append(message)

    def on_fleet_grid_row_selected(self, message: FleetGrid.RowSelected) -> None:
        self.messages.append(message)

    def on_fleet_grid_view_changed(self, message: FleetGrid.ViewChanged) -> None:
        self.messages.append(message)


def screen_text(grid: FleetGrid) -> list[str]:
    return [grid.render_line(y).text for y in range(grid.scrollable_content_region.height)]


async def until(pilot: Pilot[None], predicate: Callable[[], object], limit: float = 30.0) -> None:
    """Wait for what the operator would see: a key is handled when the app gets to it, which a
    CPU-starved test process reaches after Pilot's idle check has already passed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {predicate}")
        await pilot.pause(0.02)


# --- model ------------------------------------------------------------------------------


def test_model_default_sort_is_worst_first_with_id_tiebreak() -> None:
    model = GridModel(make_rows(18))
    statuses = [model.row_at(i).status for i in range(len(model))]
    assert statuses[:2] == ["down", "down"]
    assert statuses[2:4] == ["problem", "problem"]
    assert statuses[-1] == "up"
    ups = [model.id_at(i) for i in range(len(model)) if model.row_at(i).status == "up"]
    assert ups == sorted(ups)


@pytest.mark.parametrize("descending", [False, True])
def test_model_sort_none_last_and_stable(descending: bool) -> None:
    rows = make_rows(18)
    model = GridModel(rows, sort_key="cpu", descending=descending)
    ids = [model.id_at(i) for i in range(len(model))]
    cpus = [model.get(s).cpu_pct for s in ids]  # type: ignore[union-attr]
    present = [c for c in cpus if c is not None]
    assert cpus[len(present) :] == [None] * (len(cpus) - len(present))
    assert present == sorted(present, reverse=descending)
    nones = ids[len(present) :]
    assert nones == sorted(nones)


def test_model_sort_ties_broken_by_server_id_both_ways() -> None:
    rows = [make_row(n, cpu_pct=50.0) for n in (5, 1, 3)]
    for descending in (False, True):
        model = GridModel(rows, sort_key="cpu", descending=descending)
        assert model.visible_ids() == ["srv-001", "srv-003", "srv-005"]


def test_model_natural_direction_per_column() -> None:
    model = GridModel(make_rows(9))
    model.sort("cpu")
    assert model.descending is True
    model.sort("server")
    assert model.descending is False
    assert model.row_at(0).name == "crest-000"


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (GridFilter(installer_id="i1"), lambda r: r.installer_id == "i1"),
        (GridFilter(customer_id="c2"), lambda r: r.customer_id == "c2"),
        (GridFilter(statuses=PROBLEM_STATUSES), lambda r: r.status in ("problem", "down")),
        (GridFilter(statuses=QUIET_STATUSES), lambda r: r.status in ("quiet", "maintenance")),
        (GridFilter(text="CUSTOMER b"), lambda r: r.customer_name == "Customer B"),
        (GridFilter(text="srv-01"), lambda r: r.server_id.startswith("srv-01")),
        (GridFilter(text="installer 2"), lambda r: r.installer_id == "i2"),
        (
            GridFilter(installer_id="i0", statuses=frozenset({"up"})),
            lambda r: r.installer_id == "i0" and r.status == "up",
        ),
    ],
)
def test_model_filters(flt: GridFilter, expected) -> None:  # type: ignore[no-untyped-def]
    rows = make_rows(40)
    model = GridModel(rows)
    model.set_filter(flt)
    want = {r.server_id for r in rows if expected(r)}
    assert want
    assert set(model.visible_ids()) == want


def test_model_text_filter_narrow_and_widen() -> None:
    model = GridModel(make_rows(40))
    for text, count in (("c", 40), ("crest-0", 40), ("crest-01", 10), ("crest-015", 1)):
        model.set_filter(model.filter.with_text(text))
        assert len(model) == count, text
    model.set_filter(model.filter.with_text("crest-01"))
    assert len(model) == 10
    assert GridFilter(installer_id="i1", text=" x ").describe() == 'installer i1 · "x"'
    assert GridFilter().describe() == "all"


def test_model_update_in_place_reports_position_without_resort() -> None:
    model = GridModel(make_rows(20), sort_key="server")
    before = model.visible_ids()
    changed = model.apply_updates([make_row(7, disk_write_bps=1.0)])
    assert changed == [7]
    assert model.visible_ids() == before
    assert model.apply_updates([make_row(7, disk_write_bps=1.0)]) == []


def test_model_update_moves_row_when_sort_key_changes() -> None:
    model = GridModel(make_rows(20), sort_key="cpu", descending=True)
    changed = model.apply_updates([make_row(7, cpu_pct=100.0)])
    assert model.id_at(0) == "srv-007"
    assert changed[0] == 0
    assert model.position("srv-007") == 0


def test_model_update_changes_filter_membership_and_counts() -> None:
    model = GridModel(make_rows(20), filter=GridFilter(statuses=PROBLEM_STATUSES))
    assert "srv-000" not in model.visible_ids()
    up_before = model.counts.up
    model.apply_updates([make_row(0, status="down")])
    assert model.position("srv-000") == 0
    assert model.counts.down == 3
    assert model.counts.up == up_before - 1
    model.apply_updates([make_row(0)])
    assert model.position("srv-000") is None


def test_model_counts_and_new_rows() -> None:
    model = GridModel(make_rows(9))
    assert model.counts == FleetCounts(servers=9, up=4, problem=1, down=1, cameras_offline=2)
    model.apply_updates([make_row(100)])
    assert model.total == 10
    assert model.position("srv-100") is not None


def test_formatting() -> None:
    assert format_age(NOW - timedelta(seconds=5), NOW) == "5s"
    assert format_age(NOW - timedelta(minutes=3, seconds=59), NOW) == "3m"
    assert format_age(NOW - timedelta(hours=5), NOW) == "5h"
    assert format_age(NOW - timedelta(days=2), NOW) == "2d"
    assert format_age(None, NOW) == "—"
    assert format_rate(512) == "512 B/s"
    assert format_rate(12_345) == "12.3 kB/s"
    assert format_rate(150e6) == "150 MB/s"
    assert format_failing(make_row(2)) == "cam\u00d72 (3), cpu (1)"
    mailed = dataclasses.replace(
        make_row(4), failing=(dataclasses.replace(make_row(4).failing[0], alerted_at=NOW),)
    )
    assert format_failing(mailed) == "server (4) \u2709"


@pytest.mark.parametrize("width", [40, 78, 80, 118, 200])
def test_layout_fits_width_and_keeps_the_essentials(width: int) -> None:
    layout = layout_columns(width)
    used = sum(w for _, w in layout) + len(layout) - 1
    keys = [c.key for c, _ in layout]
    assert used <= width
    assert keys[:2] == ["status", "server"]
    if width >= 118:
        assert used == width
        assert len(keys) == len(COLUMNS)


def test_model_filters_10000_rows() -> None:
    model = GridModel(make_rows(10_000))
    model.set_filter(GridFilter(text="crest-99"))
    assert len(model) == 10 + 100
    model.set_filter(GridFilter(installer_id="i2", statuses=PROBLEM_STATUSES))
    assert all(model.row_at(i).installer_id == "i2" for i in range(len(model)))


def test_model_module_does_not_import_textual() -> None:
    code = "import sys, console.tui.gridmodel; sys.exit('textual' in sys.modules)"
    root = Path(__file__).resolve().parents[1]
    assert subprocess.run([sys.executable, "-c", code], cwd=root, check=False).returncode == 0


# --- widget -----------------------------------------------------------------------------


async def test_navigation_and_messages() -> None:
    app = GridApp(make_rows(100), sort_key="server")
    async with app.run_test(size=(100, 20)) as pilot:
        grid = app.query_one(FleetGrid)
        assert grid.has_focus
        assert grid.cursor_server_id == "srv-000"
        await pilot.press("down", "down")
        await until(pilot, lambda: grid.cursor_server_id == "srv-002")
        await pilot.press("up")
        await until(pilot, lambda: grid.cursor_position == 1)
        await pilot.press("pagedown")
        await until(pilot, lambda: grid.cursor_position == 1 + 19)
        assert grid.scroll_offset.y > 0
        await pilot.press("end")
        await until(pilot, lambda: grid.cursor_server_id == "srv-099")
        await until(pilot, lambda: screen_text(grid)[-1].split()[2] == "crest-099")
        await pilot.press("pageup")
        await until(pilot, lambda: grid.cursor_position == 99 - 19)
        await pilot.press("home")
        await until(pilot, lambda: grid.cursor_position == 0 and grid.scroll_offset.y == 0)
        await pilot.press("up", "enter")

        def selected() -> list[str]:
            return [m.server_id for m in app.messages if isinstance(m, FleetGrid.RowSelected)]

        await until(pilot, lambda: selected() == ["srv-000"])
        assert grid.cursor_position == 0
        highlighted = [m for m in app.messages if isinstance(m, FleetGrid.RowHighlighted)]
        assert [m.server_id for m in highlighted][:3] == ["srv-000", "srv-001", "srv-002"]


async def test_click_header_sorts_and_click_row_moves_cursor() -> None:
    app = GridApp(make_rows(30), sort_key="server")
    async with app.run_test(size=(120, 20)) as pilot:
        grid = app.query_one(FleetGrid)
        await pilot.click(FleetGrid, offset=(2, 3))
        await until(pilot, lambda: grid.cursor_position == 2)
        await pilot.click(FleetGrid, offset=(2, 3))
        await until(pilot, lambda: any(isinstance(m, FleetGrid.RowSelected) for m in app.messages))
        await pilot.click(FleetGrid, offset=(1, 0))
        await until(pilot, lambda: grid.model.sort_key == "status")
        await pilot.click(FleetGrid, offset=(1, 0))
        await until(pilot, lambda: grid.model.descending is True)


async def test_sort_keys_cycle_and_reverse_and_header_shows_direction() -> None:
    app = GridApp(make_rows(30))
    async with app.run_test(size=(120, 20)) as pilot:
        grid = app.query_one(FleetGrid)
        assert "Status▲" in screen_text(grid)[0]
        await pilot.press("s")
        await until(pilot, lambda: grid.model.sort_key == "server")
        header = screen_text(grid)[0]
        assert "Server▲" in header
        assert "Status▲" not in header
        await pilot.press("S")
        await until(pilot, lambda: grid.model.descending is True)
        assert "Server▼" in screen_text(grid)[0]
        assert grid.model.id_at(0) == "srv-029"
        for _ in range(len(COLUMNS) - 1):
            await pilot.press("s")
        await until(pilot, lambda: grid.model.sort_key == "status")


async def test_after_a_sort_the_top_of_the_list_shows() -> None:
    app = GridApp(make_rows(100), sort_key="server")
    async with app.run_test(size=(120, 20)) as pilot:
        grid = app.query_one(FleetGrid)
        await pilot.press("end")
        await until(pilot, lambda: grid.scroll_offset.y > 0)
        await pilot.press("S")
        await until(pilot, lambda: grid.model.descending)
        await until(pilot, lambda: grid.scroll_offset.y == 0 and grid.cursor_position == 0)
        assert screen_text(grid)[1].split()[2] == "crest-099"


async def test_every_filter_from_the_widget() -> None:
    rows = make_rows(60)
    app = GridApp(rows)
    async with app.run_test(size=(120, 30)):
        grid = app.query_one(FleetGrid)
        cases = [
            (GridFilter(installer_id="i2"), lambda r: r.installer_id == "i2"),
            (GridFilter(customer_id="c4"), lambda r: r.customer_id == "c4"),
            (GridFilter(statuses=PROBLEM_STATUSES), lambda r: r.status in PROBLEM_STATUSES),
            (GridFilter(statuses=QUIET_STATUSES), lambda r: r.status in QUIET_STATUSES),
        ]
        # set_filter and search apply at once (no message round trip): no waiting needed.
        for flt, keep in cases:
            grid.set_filter(flt)
            shown = {grid.model.id_at(i) for i in range(len(grid.model))}
            assert shown == {r.server_id for r in rows if keep(r)}
            assert grid.cursor_server_id in shown
        grid.set_filter(GridFilter())
        grid.search("customer c")
        assert {grid.model.row_at(i).customer_name for i in range(len(grid.model))} == {
            "Customer C"
        }
        grid.search("no such server")
        assert "No servers match" in screen_text(grid)[1]
        assert grid.cursor_server_id is None

    views = [m for m in app.messages if isinstance(m, FleetGrid.ViewChanged)]
    assert views[-1].visible == 0
    assert views[-1].total == 60


async def test_live_update_changes_cell_repaints_rows_and_keeps_cursor() -> None:
    app = GridApp(make_rows(40), sort_key="cpu", descending=True)
    async with app.run_test(size=(120, 20)) as pilot:
        grid = app.query_one(FleetGrid)
        await pilot.press("down", "down", "down")
        await until(pilot, lambda: grid.cursor_position == 3)
        target = grid.cursor_server_id
        assert target is not None
        row = grid.model.get(target)
        assert row is not None
        await until(pilot, lambda: grid.lines_rendered > 0)
        before = grid.lines_rendered
        changed = grid.apply_updates([dataclasses.replace(row, cpu_pct=100.0)])
        assert changed == [0, 1, 2, 3]
        await until(pilot, lambda: grid.lines_rendered - before >= len(changed))
        assert grid.cursor_server_id == target
        assert grid.cursor_position == 0
        assert grid.lines_rendered - before == len(changed) == 4
        assert "100%" in screen_text(grid)[1]

        other = grid.model.row_at(10)
        before = grid.lines_rendered
        grid.apply_updates([dataclasses.replace(other, disk_write_bps=2.0)])
        await until(pilot, lambda: grid.lines_rendered > before)
        assert grid.lines_rendered - before == 1
        assert "2 B/s" in screen_text(grid)[11]
        assert grid.cursor_server_id == target


async def test_cursor_follows_server_out_of_view_and_filtered_out() -> None:
    app = GridApp(make_rows(60), sort_key="cpu", descending=True)
    async with app.run_test(size=(120, 12)) as pilot:
        grid = app.query_one(FleetGrid)
        target = grid.cursor_server_id
        row = grid.model.get(target)  # type: ignore[arg-type]
        grid.apply_updates([dataclasses.replace(row, cpu_pct=0.0)])  # type: ignore[type-var]
        assert grid.cursor_server_id == target
        assert grid.scroll_offset.y > 0
        grid.set_filter(GridFilter(statuses=PROBLEM_STATUSES))
        await until(pilot, lambda: any(isinstance(m, FleetGrid.ViewChanged) for m in app.messages))
        await until(
            pilot,
            lambda: (
                [m for m in app.messages if isinstance(m, FleetGrid.ViewChanged)][-1].visible
                == len(grid.model)
            ),
        )
        app.messages.clear()
        hidden = next(r for r in make_rows(60) if r.status == "up")
        assert grid.apply_updates([dataclasses.replace(hidden, status="quiet")]) == []

        def views() -> list[FleetGrid.ViewChanged]:
            return [m for m in app.messages if isinstance(m, FleetGrid.ViewChanged)]

        await until(pilot, lambda: len(views()) == 1)
        assert views()[0].counts.up == grid.model.counts.up
        grid.set_filter(GridFilter(customer_id="nobody-has-this"))
        grid.set_filter(GridFilter())
        assert grid.cursor_server_id is not None


async def test_ten_thousand_rows_load_and_filter() -> None:
    app = GridApp(make_rows(10_000))
    async with app.run_test(size=(120, 40)) as pilot:
        grid = app.query_one(FleetGrid)
        assert grid.model.total == 10_000
        assert grid.virtual_size.height == 10_001
        await pilot.press("end")
        await until(pilot, lambda: grid.cursor_position == 9_999)
        grid.search("crest-99")
        assert len(grid.model) == 110
        assert all("crest-99" in line for line in screen_text(grid)[1:])
        grid.search("")
        grid.set_filter(GridFilter(installer_id="i1", statuses=PROBLEM_STATUSES))
        assert {grid.model.row_at(i).installer_id for i in range(len(grid.model))} == {"i1"}


async def test_narrow_terminal_keeps_status_readable() -> None:
    app = GridApp(make_rows(30))
    async with app.run_test(size=(80, 24)):
        lines = screen_text(app.query_one(FleetGrid))
        assert all(len(line) <= 80 for line in lines)
        assert "✖ DOWN" in lines[1]
        assert "Server" in lines[0]


async def test_theme_change_rebuilds_styles() -> None:
    app = GridApp(make_rows(10))
    async with app.run_test(size=(100, 15)) as pilot:
        grid = app.query_one(FleetGrid)
        dark = grid.render_line(1)
        app.theme = "textual-light"
        await until(pilot, lambda: list(grid.render_line(1)) != list(dark))
        light = grid.render_line(1)
        assert dark.text == light.text
        assert list(dark) != list(light)


@pytest.mark.skipif(sys.platform == "win32", reason="snapshot fonts differ on Windows")
@pytest.mark.parametrize("size", [(80, 24), (120, 30)])
def test_snapshot(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(GridApp(make_rows(40)), terminal_size=size)


def test_pending_rows_count_apart_sort_after_problems_and_match_problems_only() -> None:
    pending = dataclasses.replace(
        make_row(0), status="pending", failing=(Failing("camera", "cam1", 1, "no frames"),)
    )
    rows = [pending, make_row(2), make_row(1)]  # pending, problem, up
    model = GridModel(rows, sort_key="status")
    assert [model.get(i).status for i in model.visible_ids()] == ["problem", "pending", "up"]  # type: ignore[union-attr]
    assert model.counts.pending == 1 and model.counts.problem == 1
    model.set_filter(GridFilter(statuses=PROBLEM_STATUSES))
    assert set(model.visible_ids()) == {pending.server_id, make_row(2).server_id}
    assert GridFilter(statuses=PROBLEM_STATUSES).describe() == "down, problem or pending"
    both = GridFilter(installer_id="i1", statuses=frozenset({"quiet"}), text=" cam ")
    assert both.describe() == 'installer i1 · quiet · "cam"'
