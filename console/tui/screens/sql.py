"""Ad-hoc read-only SQL on the store: a query editor, an Arrow-backed result table, a history of
queries (kept in memory and in a file), exports to CSV or Parquet, and errors shown inline.

Never offered in an installer-scoped console: SQL would see every installer's data.
"""

from __future__ import annotations

import json
import re
import textwrap
import time
from pathlib import Path
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Vertical
from textual.message import Message
from textual.widgets import Footer, Input, Label, Static, TextArea
from textual_fastdatatable import ArrowBackend, DataTable

from console.tui.bindings import Context, bindings_for
from console.tui.header import NlsHeader
from console.tui.screens.base import NlsModal, NlsScreen
from console.tui.screens.picker import PickerScreen


def store_tables() -> list[str]:
    """Every table the store's migrations create, in the order they create them (read from the
    shipped migrations, so a table added by a new migration is listed without touching this),
    then the store's views."""
    from importlib import resources

    from console.store.database import Store

    found: list[str] = []
    folder = resources.files("sql").joinpath("migrations")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".sql"):
            for name in CREATE_TABLE.findall(entry.read_text(encoding="utf-8")):
                if name.lower() not in found:
                    found.append(name.lower())
    return found + [view for view in Store.VIEWS if view not in found]


def default_query(width: int = 88) -> str:
    """The editor's first query, under a comment naming every table."""
    lines = textwrap.wrap(
        ", ".join(store_tables()),
        width=width,
        initial_indent="-- tables: ",
        subsequent_indent="-- ",
    )
    return "\n".join(
        [
            *lines,
            "SELECT check_name, state, count(*) AS n FROM current_state GROUP BY ALL ORDER BY ALL",
        ]
    )


CREATE_TABLE = re.compile(r"^\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)", re.I | re.M)
HISTORY_LIMIT = 200
EXPORT_FORMATS = ("csv", "parquet")


class QueryHistory:
    """Past queries, newest first; appended to a JSON-lines file so they survive restarts."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.queries: list[str] = []
        if path is not None and path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    query = json.loads(line)["query"]
                except (ValueError, KeyError, TypeError):
                    continue
                self._remember(query)

    def _remember(self, query: str) -> None:
        if query in self.queries:
            self.queries.remove(query)
        self.queries.insert(0, query)
        del self.queries[HISTORY_LIMIT:]

    def add(self, query: str) -> None:
        self._remember(query)
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps({"ts": time.time(), "query": query}) + "\n")
        except OSError:
            self.path = None


def write_table(table: Any, path: Path, fmt: str) -> int:
    """Write an Arrow table; returns its row count. Runs on a worker thread."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, path)
    else:
        import pyarrow.csv as pacsv

        pacsv.write_csv(table, path)
    return int(table.num_rows)


class QueryDone(Message):
    def __init__(self, query: str, table: Any, elapsed: float) -> None:
        super().__init__()
        self.query = query
        self.table = table
        self.elapsed = elapsed


class QueryFailed(Message):
    def __init__(self, query: str, error: BaseException) -> None:
        super().__init__()
        self.query = query
        self.error = error


class ExportScreen(NlsModal):
    """Asks where to write the result; dismisses with a Path or None."""

    DEFAULT_CSS = """
    ExportScreen { align: center middle; }
    ExportScreen > Vertical {
        width: 76; max-width: 95%; height: auto; border: round $accent;
        background: $surface; padding: 0 1;
    }
    ExportScreen Label { color: $text-muted; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="export.cancel")]

    def __init__(self, fmt: str, default: Path) -> None:
        super().__init__()
        self.fmt = fmt
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Export the result as {self.fmt.upper()} to (enter to write):")
            yield Input(str(self.default), id="export-path", compact=True)

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        self.dismiss(Path(value).expanduser() if value else None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class SqlScreen(NlsScreen):
    CONTEXT: ClassVar[Context] = "sql"
    TITLE = "SQL"
    BINDINGS = bindings_for("sql")
    DEFAULT_CSS = """
    SqlScreen #editor { height: 7; border: none; }
    SqlScreen #sql-status { height: auto; max-height: 6; padding: 0 1; color: $text-muted; }
    SqlScreen #sql-status.error { color: $text-error; background: $error 10%; }
    SqlScreen #results { height: 1fr; }
    SqlScreen #results-empty { padding: 1; color: $text-muted; }
    """

    show_timing: ClassVar[bool] = True
    """Snapshot tests turn the elapsed time off: it is the one nondeterministic figure."""

    def __init__(self) -> None:
        super().__init__()
        self.history = QueryHistory(self.nls_app.state_file("sql_history.jsonl"))
        self.table: Any = None
        self.last_query = ""
        self.result_summary = ""
        self.runs = 0
        """Queries answered (result or error) so far: what a test waits on after a run."""

    def compose(self) -> ComposeResult:
        yield NlsHeader(self.TITLE)
        with Vertical():
            yield TextArea(
                self.history.queries[0] if self.history.queries else default_query(),
                id="editor",
                compact=True,
                show_line_numbers=False,
                tab_behavior="focus",
            )
            yield Static(
                "ctrl+r runs the query (read-only) · ctrl+n new query · ctrl+o history · "
                "esc leaves the editor",
                id="sql-status",
            )
            with Container(id="results"):
                yield Label("No result yet.", id="results-empty")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#editor", TextArea).focus()

    @property
    def query_text(self) -> str:
        return self.query_one("#editor", TextArea).text

    @query_text.setter
    def query_text(self, text: str) -> None:
        self.query_one("#editor", TextArea).load_text(text)

    def action_run_query(self) -> None:
        query = self.query_text.strip()
        if not query:
            return
        self._status("running…", error=False)
        self.run_query(query)

    @work(exclusive=True, group="sql", exit_on_error=False)
    async def run_query(self, query: str) -> None:
        started = time.perf_counter()
        try:
            table = await self.source.sql(query)
        except Exception as exc:
            self.post_message(QueryFailed(query, exc))
            return
        self.post_message(QueryDone(query, table, time.perf_counter() - started))

    async def on_query_done(self, message: QueryDone) -> None:
        self.history.add(message.query)
        self.table = message.table
        self.last_query = message.query
        rows = message.table.num_rows
        columns = message.table.num_columns
        timing = f" in {message.elapsed * 1000:.0f} ms" if self.show_timing else ""
        self.result_summary = (
            f"{rows:,} row{'s' if rows != 1 else ''}, "
            f"{columns} column{'s' if columns != 1 else ''}{timing}"
        )
        self._status(f"{self.result_summary} · ctrl+s CSV · ctrl+t Parquet", error=False)
        results = self.query_one("#results", Container)
        await results.remove_children()
        await results.mount(
            DataTable(backend=ArrowBackend(message.table), id="result-table", max_rows=None)
        )
        self.call_after_refresh(self._hint_hidden_columns)
        self.runs += 1

    def _hint_hidden_columns(self) -> None:
        """Say when the result is wider than the screen: columns off to the right are otherwise
        invisible until someone thinks of scrolling."""
        tables = self.query("#result-table")
        if not tables or self.table is None or self.query_one("#sql-status").has_class("error"):
            return
        table = tables.first(DataTable)
        room = table.scrollable_content_region.width
        used = 0
        fit = 0
        for col in table.ordered_columns:
            used += col.render_width
            if used > room:
                break
            fit += 1
        total = self.table.num_columns
        hidden = f" · {fit} of {total} columns fit: → scrolls right" if fit < total else ""
        self._status(f"{self.result_summary}{hidden} · ctrl+s CSV · ctrl+t Parquet", error=False)

    def on_resize(self) -> None:
        self.call_after_refresh(self._hint_hidden_columns)

    def on_query_failed(self, message: QueryFailed) -> None:
        self.history.add(message.query)
        error = message.error
        text = str(error).strip() or type(error).__name__
        self._status(f"{type(error).__name__}: {text}", error=True)
        self.runs += 1

    def _status(self, text: str, *, error: bool) -> None:
        status = self.query_one("#sql-status", Static)
        status.update(text)
        status.set_class(error, "error")

    def action_focus_editor(self) -> None:
        self.query_one("#editor", TextArea).focus()

    def action_clear_editor(self) -> None:
        """An empty editor for a new query; what was there stays in the history once run."""
        self.query_text = ""
        self.action_focus_editor()

    def action_leave_editor(self) -> None:
        tables = self.query("#result-table")
        if tables:
            tables.first().focus()
        else:
            self.set_focus(None)

    def action_history(self) -> None:
        if not self.history.queries:
            self.notify("No query in the history yet.")
            return
        options = [(str(i), " ".join(q.split())) for i, q in enumerate(self.history.queries)]

        def chosen(key: str | None) -> None:
            if key is not None:
                self.query_text = self.history.queries[int(key)]
                self.action_focus_editor()

        self.app.push_screen(PickerScreen("Query history", options), chosen)

    def action_export(self, fmt: str) -> None:
        if self.table is None:
            self.notify("Run a query first: there is nothing to export.", severity="warning")
            return
        stamp = self.nls_app.clock().strftime("%Y%m%d-%H%M%S")
        default = self.nls_app.export_dir / f"nls-query-{stamp}.{fmt}"

        def chosen(path: Path | None) -> None:
            if path is not None:
                self.export(path, fmt)

        self.app.push_screen(ExportScreen(fmt, default), chosen)

    @work(thread=True, exclusive=True, group="export", exit_on_error=False)
    def export(self, path: Path, fmt: str) -> int:
        """Write the current result to `path` on a thread; the file system is I/O."""
        if fmt not in EXPORT_FORMATS:
            raise ValueError(f"unknown export format {fmt!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = write_table(self.table, path, fmt)
        self.app.call_from_thread(
            self.notify, f"Wrote {rows:,} rows to {path}", title="Export", timeout=6
        )
        return rows
