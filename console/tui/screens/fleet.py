"""The main screen: the fleet grid under a search line, with installer, customer and status
filters (the installer filter is the per-installer dashboard)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Input

from console.fleetview import ServerRow, Status
from console.tui.bindings import Context, bindings_for
from console.tui.grid import FleetGrid
from console.tui.gridmodel import PROBLEM_STATUSES, GridFilter
from console.tui.header import NlsHeader
from console.tui.screens.base import NlsScreen
from console.tui.screens.picker import ALL, PickerScreen

STATUS_FILTERS: dict[str, frozenset[Status] | None] = {
    "all": None,
    "problems": PROBLEM_STATUSES,
    "quiet": frozenset({"quiet"}),
    "maintenance": frozenset({"maintenance"}),
}


class FleetScreen(NlsScreen):
    CONTEXT: ClassVar[Context] = "fleet"
    TITLE = "Fleet"
    BINDINGS = [
        *bindings_for("fleet"),
        Binding("escape", "leave_search", "Grid", show=False, id="fleet.leave_search"),
    ]
    DEFAULT_CSS = """
    FleetScreen #search { height: 1; margin: 0; border: none; }
    FleetScreen FleetGrid { height: 1fr; }
    """

    def compose(self) -> ComposeResult:
        yield NlsHeader(self.TITLE)
        yield Input(
            placeholder="/ search servers, customers, installers",
            compact=True,
            id="search",
        )
        yield FleetGrid(clock=self.nls_app.clock, id="grid")
        yield Footer(compact=True)

    @property
    def grid(self) -> FleetGrid:
        return self.query_one(FleetGrid)

    def on_mount(self) -> None:
        rows = self.nls_app.snapshot_rows
        if rows is not None:
            self.grid.load(rows)
        self.grid.focus()

    def load(self, rows: Iterable[ServerRow]) -> None:
        self.grid.load(rows)

    def apply_updates(self, rows: Iterable[ServerRow]) -> None:
        self.grid.apply_updates(rows)

    @on(FleetGrid.ViewChanged)
    def _view_changed(self, event: FleetGrid.ViewChanged) -> None:
        self.nls_app.set_status(
            counts=event.counts, visible=event.visible, filter=event.filter.describe()
        )

    @on(FleetGrid.RowSelected)
    def _row_selected(self, event: FleetGrid.RowSelected) -> None:
        self.nls_app.open_detail(event.server_id)

    @on(Input.Changed, "#search")
    def _search(self, event: Input.Changed) -> None:
        self.grid.search(event.value)

    @on(Input.Submitted, "#search")
    def _search_done(self) -> None:
        self.grid.focus()

    def action_focus_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_leave_search(self) -> None:
        self.grid.focus()

    def action_open_detail(self) -> None:
        self.grid.action_select()

    def set_filter(self, **changes: object) -> None:
        self.grid.set_filter(replace(self.grid.filter, **changes))  # type: ignore[arg-type]

    def action_status_filter(self, name: str) -> None:
        self.set_filter(statuses=STATUS_FILTERS[name])

    def action_cycle_status(self) -> None:
        names = list(STATUS_FILTERS)
        current = next(
            (n for n, s in STATUS_FILTERS.items() if s == self.grid.filter.statuses), "all"
        )
        self.action_status_filter(names[(names.index(current) + 1) % len(names)])

    def action_clear_filters(self) -> None:
        self.query_one("#search", Input).value = ""
        self.grid.set_filter(GridFilter())

    def action_pick_installer(self) -> None:
        seen: dict[str, str] = {}
        counts: dict[str, int] = {}
        for row in self.grid.model.rows():
            seen.setdefault(row.installer_id, row.installer_name)
            counts[row.installer_id] = counts.get(row.installer_id, 0) + 1
        options = [(ALL, "All installers")] + [
            (key, f"{name}  ({key}, {counts[key]} server{'' if counts[key] == 1 else 's'})")
            for key, name in sorted(seen.items(), key=lambda kv: kv[1].casefold())
        ]
        self.app.push_screen(
            PickerScreen("Installer", options),
            lambda key: self._picked("installer_id", key),
        )

    def action_pick_customer(self) -> None:
        seen: dict[str, str] = {}
        installer = self.grid.filter.installer_id
        for row in self.grid.model.rows():
            if installer is None or row.installer_id == installer:
                seen.setdefault(row.customer_id, f"{row.customer_name}  ({row.installer_name})")
        options = [(ALL, "All customers"), *sorted(seen.items(), key=lambda kv: kv[1].casefold())]
        self.app.push_screen(
            PickerScreen("Customer", options),
            lambda key: self._picked("customer_id", key),
        )

    def _picked(self, field: str, key: str | None) -> None:
        if key is None:
            return
        self.set_filter(**{field: None if key == ALL else key})
        self.grid.focus()
