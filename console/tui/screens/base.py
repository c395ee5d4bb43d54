"""What every console screen shares: the header, the footer and the route for worker errors.

Worker state messages do not bubble in Textual, so each screen hands them to the app's one
handler; a failed source call becomes a notification instead of a crash.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, cast

from rich.cells import cell_len
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Button, DataTable, Footer, Input, Label, Static
from textual.worker import Worker

from console.tui.bindings import Context
from console.tui.header import NlsHeader

if TYPE_CHECKING:
    from console.fleetview import FleetSource
    from console.tui.app import NlsApp


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    label: str
    width: int


def column(label: str, *values: str) -> ColumnSpec:
    """A DataTable column for styled `Content` cells, as wide as its longest possible value.

    Textual 8.2's DataTable sizes columns with Rich's `measure`, which does not know `Content`
    and counts such a cell one cell wide: the column took its label's width and cut longer
    values ("pendin", "UNKNO"). Plain strings are measured; styled cells need this.
    """
    return ColumnSpec(label, max(len(label), *(len(v) for v in values)))


Row = tuple[str | None, Sequence[Any]]
"""A table row: its key (None: none) and its cells (str or styled Content)."""


def _cell_width(cell: Any) -> int:
    if isinstance(cell, Content):
        return cell.cell_length
    return max((cell_len(line) for line in str(cell).split("\n")), default=0)


def fill_table(
    table: DataTable[Any], columns: Sequence[str | ColumnSpec], rows: Iterable[Row]
) -> None:
    """Replace a DataTable's columns and rows, every column as wide as its widest value.

    The widths are computed here, not left to DataTable: it measures new rows in its Idle
    handler, and lines it drew before that stay cached at the columns' old (label) widths
    ("custo", "2026" for "customer cust-3", "2026-11-22 12:00→15:00"; Textual 8.2). Given
    widths are never re-measured, so nothing is drawn at a wrong one.
    """
    rows = list(rows)
    table.clear(columns=True)
    for index, spec in enumerate(columns):
        label = spec.label if isinstance(spec, ColumnSpec) else spec
        widest = max((_cell_width(cells[index]) for _, cells in rows), default=0)
        least = spec.width if isinstance(spec, ColumnSpec) else 0
        table.add_column(label, width=max(cell_len(label), least, widest))
    for key, cells in rows:
        table.add_row(*cells, key=key)


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


class FormModal(NlsModal):
    """A modal form: labelled rows, an error line, Save and Cancel. Enter in a field, ctrl+s
    and Save all call `action_save`, which a subclass writes (it shows a refusal with `error()`
    and dismisses with what it stored); escape and Cancel dismiss with None."""

    DEFAULT_CSS = """
    FormModal { align: center middle; }
    FormModal > Vertical {
        width: 78; max-width: 100%; height: auto; max-height: 100%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    FormModal Horizontal { height: 1; }
    FormModal .field-label { width: 10; color: $text-muted; }
    FormModal Input { width: 1fr; }
    FormModal Select { width: 1fr; }
    FormModal #form-error { color: $text-error; height: auto; }
    FormModal #form-buttons { height: 1; align-horizontal: right; margin-top: 1; }
    FormModal Button { min-width: 10; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="form.cancel"),
        Binding("ctrl+s", "save", "Save", id="form.save"),
    ]

    @staticmethod
    def row(label: str, widget: Widget) -> Horizontal:
        """One labelled field."""
        return Horizontal(Label(label, classes="field-label"), widget)

    @staticmethod
    def footer(save: str = "Save") -> Iterator[Widget]:
        """The error line and the buttons, under the fields."""
        yield Static("", id="form-error")
        yield Horizontal(
            Button(save, id="save", variant="primary", compact=True),
            Button("Cancel", id="cancel", compact=True),
            id="form-buttons",
        )

    def error(self, text: str) -> None:
        self.query_one("#form-error", Static).update(text)

    async def action_save(self) -> None:
        raise NotImplementedError

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted)
    async def _submitted(self) -> None:
        await self.action_save()

    @on(Button.Pressed, "#save")
    async def _save(self) -> None:
        await self.action_save()

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)


class ListScreen(NlsScreen):
    """A summary line over a table of what `fetch()` returns, reloaded whenever the screen is
    shown and on `refresh`; subclasses fill the table in `show()`."""

    COLUMNS: ClassVar[tuple[str | ColumnSpec, ...]] = ()
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

    def rows(self, items: Sequence[Any]) -> Iterable[Row]:
        """A row per item, in table order."""
        raise NotImplementedError

    def summary(self, items: Sequence[Any]) -> str:
        """The line above the table."""
        raise NotImplementedError

    def on_list_screen_loaded(self, message: Loaded) -> None:
        table = self.query_one(DataTable)
        selected = None
        if table.row_count:
            selected = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        fill_table(table, self.COLUMNS, self.rows(message.items))
        self.query_one(f"#{self.SUMMARY_ID}", Static).update(Content(self.summary(message.items)))
        if selected is not None and selected in table.rows:
            table.move_cursor(row=table.get_row_index(selected), animate=False)
