"""What every console screen shares: the header, the footer and the route for worker errors.

Worker state messages do not bubble in Textual, so each screen hands them to the app's one
handler; a failed source call becomes a notification instead of a crash.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, cast

from textual import work
from textual.app import ComposeResult
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Static
from textual.worker import Worker

from console.tui.bindings import Context
from console.tui.header import NlsHeader

if TYPE_CHECKING:
    from console.fleetview import FleetSource
    from console.tui.app import NlsApp


class NlsScreen(Screen[None]):
    CONTEXT: ClassVar[Context] = "app"
    TITLE: ClassVar[str] = ""

    @property
    def nls_app(self) -> NlsApp:
        return cast("NlsApp", self.app)

    @property
    def source(self) -> FleetSource:
        return self.nls_app.source

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.nls_app.worker_changed(event)


class NlsModal(ModalScreen[Any]):
    @property
    def nls_app(self) -> NlsApp:
        return cast("NlsApp", self.app)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.nls_app.worker_changed(event)


class ListScreen(NlsScreen):
    """A summary line over a table of what `fetch()` returns, reloaded whenever the screen is
    shown and on `refresh`; subclasses fill the table in `show()`."""

    COLUMNS: ClassVar[tuple[str, ...]] = ()
    SUMMARY_ID: ClassVar[str] = "summary"
    TABLE_ID: ClassVar[str] = "rows"
    DEFAULT_CSS = """
    ListScreen .list-summary { height: 1; padding: 0 1; color: $text-muted; }
    ListScreen DataTable { height: 1fr; }
    """

    class Loaded(Message):
        def __init__(self, items: Sequence[Any]) -> None:
            super().__init__()
            self.items = items

    def compose(self) -> ComposeResult:
        yield NlsHeader(self.TITLE)
        yield Static("loading…", id=self.SUMMARY_ID, classes="list-summary")
        yield DataTable(id=self.TABLE_ID, cursor_type="row", zebra_stripes=True)
        yield Footer(compact=True)

    def on_screen_resume(self) -> None:
        self.load()
        self.query_one(DataTable).focus()

    def action_refresh(self) -> None:
        self.load()

    @work(exclusive=True, group="list", exit_on_error=False)
    async def load(self) -> None:
        self.post_message(self.Loaded(await self.fetch()))

    async def fetch(self) -> Sequence[Any]:
        raise NotImplementedError

    def show(self, table: DataTable[Any], items: Sequence[Any]) -> str:
        """Add a row per item to the (cleared) table; returns the summary line."""
        raise NotImplementedError

    def on_list_screen_loaded(self, message: Loaded) -> None:
        table = self.query_one(DataTable)
        # Columns too: DataTable keeps a column's earlier width (and cached lines drawn at it)
        # across clear(), so a longer new value showed cut off until the next resize.
        table.clear(columns=True)
        table.add_columns(*self.COLUMNS)
        summary = self.show(table, message.items)
        self.query_one(f"#{self.SUMMARY_ID}", Static).update(summary)
