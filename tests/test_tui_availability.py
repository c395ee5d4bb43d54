"""The console's availability screen (key 6): the previous month by installer, worst first;
`[`/`]` change the month, `b` the grouping, `e` exports to any report format; a scoped console
sees only its own installer's rows (the source decides, as the daemon does)."""

from __future__ import annotations

import json
from pathlib import Path

from textual.widgets import DataTable, Input, OptionList

from tests.test_tui_app import make_app, make_source, screen_text, until


async def test_worst_first_by_installer_then_server_month_steps_and_export(tmp_path: Path) -> None:
    source = make_source(9)
    source.downtime = {"crest-0001": 90.0, "crest-0004": 10.0, "crest-0002": 200.0}
    app = make_app(source, tmp_path)
    async with app.run_test(size=(150, 30)) as pilot:
        await pilot.press("6")
        screen = app.screen
        table = screen.query_one(DataTable)
        await until(pilot, lambda: table.row_count == 3)
        # lux: 200 of 133,920 min (99.8507%, below 99.9); alarmes: 100 min (99.9253%); secutec: 0
        assert [table.get_row_at(i)[0] for i in range(3)] == ["lux", "alarmes", "secutec"]
        assert source.reports_requested[-1] == ("availability", "2026-10", "installer")
        await until(
            pilot, lambda: "2026-10 by installer: 3 rows, 1 below target" in screen_text(app)
        )

        await pilot.press("b", "b")  # installer -> customer -> server
        await until(pilot, lambda: source.reports_requested[-1][2] == "server")
        await until(pilot, lambda: table.row_count == 9)
        assert table.get_row_at(0)[0] == "crest-0002" and table.get_row_at(1)[0] == "crest-0001"

        await pilot.press("left_square_bracket")
        await until(pilot, lambda: source.reports_requested[-1][1] == "2026-09")
        await pilot.press("right_square_bracket", "right_square_bracket")
        await until(pilot, lambda: source.reports_requested[-1][1] == "2026-11")

        await pilot.press("e")
        await until(pilot, lambda: bool(app.screen.query(OptionList)))
        options = app.screen.query_one(OptionList)
        options.highlighted = 1  # JSON
        options.focus()
        await pilot.press("enter")
        await until(pilot, lambda: bool(app.screen.query("#export-path")))
        target = tmp_path / "nov.json"
        app.screen.query_one("#export-path", Input).value = str(target)
        await pilot.press("enter")
        await until(pilot, lambda: target.exists())
        rows = json.loads(target.read_text())
        assert len(rows) == 9 and rows[0]["server"] == "crest-0002"


async def test_a_scoped_console_sees_only_its_installer(tmp_path: Path) -> None:
    source = make_source(9, installer="secutec")
    app = make_app(source, tmp_path, installer="secutec")
    async with app.run_test(size=(150, 30)) as pilot:
        await pilot.press("6")
        table = app.screen.query_one(DataTable)
        await until(pilot, lambda: table.row_count == 1)
        assert table.get_row_at(0)[0] == "secutec"
        await pilot.press("b", "b")
        await until(pilot, lambda: table.row_count == 3)
        assert {table.get_row_at(i)[0] for i in range(3)} == {
            "crest-0000",
            "crest-0003",
            "crest-0006",
        }
