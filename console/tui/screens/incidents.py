"""The incident desk: every incident in scope with its most urgent timer counting down live,
coloured by state (running, at risk, urgent, breached, paused), what is due next first.

The list comes from the source (which computes the timers) when the screen is shown, every
`RELOAD_SECONDS` and after every change made here; in between, a one-second tick redraws only
the countdown and state cells that changed, from the instants each timer row carries
(`TimerRow.state_at`), inside `app.batch_update()`. Rows are keyed by incident id: a reload
updates changed cells in place and rebuilds the table only when the order changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable, Footer, Static

from console.desk.records import IncidentQuery, IncidentRow
from console.desk.text import countdown, live_state
from console.tui.bindings import Context, bindings_for
from console.tui.header import NlsHeader
from console.tui.screens.base import NlsScreen
from console.tui.screens.picker import ALL, PickerScreen

RELOAD_SECONDS = 15.0
STATE_FILTERS: tuple[str | None, ...] = ("open", None, "waiting", "resolved", "closed")
"""The state filter's cycle: "open" means open or waiting; None is every incident."""
STATE_STYLE = {
    "running": "$text-success",
    "paused": "$text-muted",
    "at_risk": "$text-warning bold",
    "urgent": "$text-error bold",
    "breached": "$text-error bold reverse",
    "met": "$text-muted",
}
COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "Id"),
    ("priority", "Pri"),
    ("status", "Status"),
    ("customer", "Customer"),
    ("server", "Server"),
    ("timer", "Timer"),
    ("due", "Due in"),
    ("state", "State"),
    ("title", "Title"),
)
LIVE_COLUMNS = ("due", "state")


def state_cell(state: str) -> Content:
    return Content.styled(state.replace("_", " "), STATE_STYLE.get(state, ""))


def cells(row: IncidentRow, now: datetime, names: dict[str, str] | None = None) -> dict[str, Any]:
    """The text of every column of one incident at `now` (`names`: customer names by id)."""
    incident = row.incident
    state = live_state(row.timer, now)
    return {
        "id": str(incident.id),
        "priority": incident.priority,
        "status": incident.status,
        "customer": (names or {}).get(incident.customer, incident.customer),
        "server": incident.server or "",
        "timer": row.timer.kind if row.timer else "",
        "due": countdown(row.timer, now),
        "state": state_cell(state) if state else "",
        "title": incident.title,
    }


@dataclass(frozen=True, slots=True)
class IncidentFilter:
    installer: str | None = None
    customer: str | None = None
    server: str | None = None
    priority: str | None = None
    state: str | None = "open"
    breaching: bool = False

    def query(self) -> IncidentQuery:
        return IncidentQuery(
            installer=self.installer,
            customer=self.customer,
            server=self.server,
            priority=self.priority,
            status=self.state if self.state not in (None, "open") else None,
            open_only=self.state == "open",
            breaching=self.breaching,
        )

    def describe(self) -> str:
        parts = [f"{self.state or 'all'} incidents"]
        for name in ("installer", "customer", "server", "priority"):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name}={value}")
        if self.breaching:
            parts.append("breaching")
        return " · ".join(parts)


class IncidentsLoaded(Message):
    def __init__(self, rows: Sequence[IncidentRow]) -> None:
        super().__init__()
        self.rows = rows


class IncidentsScreen(NlsScreen):
    CONTEXT: ClassVar[Context] = "incidents"
    TITLE = "Incidents"
    BINDINGS = bindings_for("incidents")
    DEFAULT_CSS = """
    IncidentsScreen #incidents-summary { height: 1; padding: 0 1; color: $text-muted; }
    IncidentsScreen DataTable { height: 1fr; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.incident_filter = IncidentFilter()
        self.rows: dict[int, IncidentRow] = {}
        self.order: list[int] = []
        self.shown: dict[int, dict[str, Any]] = {}
        self.loaded = 0  # lists applied so far (tests wait on it)

    def compose(self) -> ComposeResult:
        yield NlsHeader(self.TITLE)
        yield Static("loading…", id="incidents-summary")
        yield DataTable(id="incidents", cursor_type="row", zebra_stripes=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.table
        for key, title in COLUMNS:
            table.add_column(title, key=key)
        self.set_interval(1.0, self.tick)
        self.set_interval(RELOAD_SECONDS, self._reload)

    def _reload(self) -> None:
        if self.is_current:
            self.load()

    def customer_names(self) -> dict[str, str]:
        return {r.customer_id: r.customer_name for r in self.nls_app.snapshot_rows or ()}

    def on_screen_resume(self) -> None:
        self.load()
        self.table.focus()

    @property
    def table(self) -> DataTable[Any]:
        return self.query_one("#incidents", DataTable)

    # -- data -------------------------------------------------------------------------------

    @work(exclusive=True, group="incidents", exit_on_error=False)
    async def load(self) -> None:
        self.post_message(
            IncidentsLoaded(await self.source.incidents(self.incident_filter.query()))
        )

    def action_refresh(self) -> None:
        self.load()

    @on(IncidentsLoaded)
    def _loaded(self, message: IncidentsLoaded) -> None:
        self.apply(message.rows)

    def apply(self, rows: Sequence[IncidentRow]) -> None:
        """Show a new list: changed cells in place when the order holds, else a rebuild."""
        now = self.nls_app.clock()
        names = self.customer_names()
        order = [r.incident.id for r in rows]
        self.rows = {r.incident.id: r for r in rows}
        table = self.table
        with self.app.batch_update():
            if order != self.order:
                cursor = self.selected_id()
                table.clear()
                self.shown = {}
                for incident_id in order:
                    values = cells(self.rows[incident_id], now, names)
                    table.add_row(*values.values(), key=str(incident_id))
                    self.shown[incident_id] = values
                self.order = order
                if cursor in self.rows:
                    table.move_cursor(row=order.index(cursor), animate=False)
            else:
                for incident_id in order:
                    self._update(incident_id, cells(self.rows[incident_id], now, names))
            self._summary(now)
        self.loaded += 1

    def tick(self) -> None:
        """Once a second: the countdowns and states that changed, nothing else."""
        if not self.rows or not self.is_current:
            return
        now = self.nls_app.clock()
        with self.app.batch_update():
            for incident_id, row in self.rows.items():
                if row.timer is not None:
                    self._update(incident_id, cells(row, now), LIVE_COLUMNS)
            self._summary(now)

    def _update(
        self, incident_id: int, values: dict[str, Any], columns: Sequence[str] | None = None
    ) -> None:
        shown = self.shown.setdefault(incident_id, {})
        for column in columns or values:
            value = values[column]
            if shown.get(column) != value:
                self.table.update_cell(str(incident_id), column, value)
                shown[column] = value

    def _summary(self, now: datetime) -> None:
        states = [live_state(r.timer, now) for r in self.rows.values()]
        breached = states.count("breached")
        warned = states.count("urgent") + states.count("at_risk")
        text = (
            f"{len(self.rows)} incidents · {breached} breached · {warned} at risk · "
            f"{self.incident_filter.describe()} · enter opens · n new · s state · x clear"
        )
        self.query_one("#incidents-summary", Static).update(text)

    def selected_id(self) -> int | None:
        table = self.table
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return int(key) if key is not None else None

    # -- actions ----------------------------------------------------------------------------

    @on(DataTable.RowSelected, "#incidents")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.nls_app.open_incident(int(event.row_key.value))

    def action_open_incident(self) -> None:
        incident_id = self.selected_id()
        if incident_id is not None:
            self.nls_app.open_incident(incident_id)

    def action_new_incident(self) -> None:
        self.nls_app.action_new_incident(server=self.incident_filter.server)

    def set_filter(self, **changes: Any) -> None:
        self.incident_filter = replace(self.incident_filter, **changes)
        self.load()

    def action_cycle_state(self) -> None:
        index = STATE_FILTERS.index(self.incident_filter.state)
        self.set_filter(state=STATE_FILTERS[(index + 1) % len(STATE_FILTERS)])

    def action_toggle_breaching(self) -> None:
        self.set_filter(breaching=not self.incident_filter.breaching)

    def action_clear_filters(self) -> None:
        self.incident_filter = IncidentFilter()
        self.load()

    def action_pick(self, field: str) -> None:
        options = self._options(field)
        title = field.capitalize()
        self.app.push_screen(
            PickerScreen(title, [(ALL, f"All {field}s"), *options]),
            lambda key: self._picked(field, key),
        )

    def _options(self, field: str) -> list[tuple[str, str]]:
        """Installers and customers from the fleet (names), priorities from the list."""
        found: dict[str, str] = {}
        if field == "priority":
            for row in self.rows.values():
                found.setdefault(row.incident.priority, row.incident.priority)
        for server in self.nls_app.snapshot_rows or ():
            if field == "installer":
                found.setdefault(
                    server.installer_id, f"{server.installer_name}  ({server.installer_id})"
                )
            elif field == "customer":
                found.setdefault(
                    server.customer_id, f"{server.customer_name}  ({server.customer_id})"
                )
        return sorted(found.items(), key=lambda kv: kv[1].casefold())

    def _picked(self, field: str, key: str | None) -> None:
        if key is not None:
            self.set_filter(**{field: None if key == ALL else key})

    def show_server(self, server: str | None) -> None:
        """The incidents of one server (from the fleet grid), open or not."""
        self.incident_filter = IncidentFilter(server=server, state=None if server else "open")
        if self.is_mounted:
            self.load()
