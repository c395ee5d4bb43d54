"""Maintenance windows: the list the alerting consults, a form to announce one (one-off or
recurring by cron), and removal. Windows are stored by the source; removal is soft there."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Input, Label, Select, Static

from console.errors import NlsError
from console.monitor.maintenance import SCOPE_KINDS, MaintenanceWindow
from console.monitor.windowtext import WindowText, read_window
from console.tui.bindings import Context, bindings_for
from console.tui.screens.base import FormModal, ListScreen, NlsModal, Row

FIELDS: tuple[tuple[str, str, str], ...] = (
    ("scope_id", "Scope id", "server, customer or installer id"),
    ("start", "Starts", "YYYY-MM-DD HH:MM (one-off, in the scope's zone)"),
    ("end", "Ends", "YYYY-MM-DD HH:MM (one-off, in the scope's zone)"),
    ("cron", "Cron", "recurring: min hour dom mon dow, e.g. 0 2 * * sun"),
    ("duration", "Minutes", "recurring: duration in minutes"),
    ("timezone", "Time zone", "default: the scope's zone"),
    ("reason", "Reason", "why (SLA reports quote it)"),
)


def form_text(values: Mapping[str, str], *, scope_kind: str) -> WindowText:
    """The form's fields as `read_window` takes them (the same function `nls maintenance add`
    uses, so a time without an offset is read in the scope's zone in both)."""
    return WindowText(scope_kind=scope_kind, **{key: values.get(key, "") for key, _, _ in FIELDS})


def describe_when(w: MaintenanceWindow, zone: str = "UTC") -> str:
    """When the window applies, in `zone` (named): a recurring window in its own zone."""
    if w.cron:
        tz = w.timezone or zone
        bounds = ""
        if w.starts or w.ends:
            bounds = f" ({_short(w.starts, tz)}→{_short(w.ends, tz)})"
        return f"{w.cron} {tz} for {w.duration_min} min{bounds}"
    starts, ends = _short(w.starts, zone), _short(w.ends, zone)
    if starts[:10] == ends[:10]:
        ends = ends[11:]
    return f"{starts}→{ends} {zone}"


def _short(value: datetime | None, zone: str = "UTC") -> str:
    if value is None:
        return ""
    return value.astimezone(_zone(zone)).strftime("%Y-%m-%d %H:%M")


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


class MaintenanceForm(FormModal):
    """Dismisses with a validated MaintenanceWindow, or None."""

    def __init__(self, *, scope_kind: str = "server", scope_id: str = "", zone: str = "") -> None:
        """`zone`: the scope's zone as known when the form opens, shown as the default (the
        zone itself is read again from the scope entered when the window is saved)."""
        super().__init__()
        self.scope_kind = scope_kind
        self.scope_id = scope_id
        self.zone = zone

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Announce a maintenance window (one-off: starts+ends; recurring: cron)")
            yield self.row(
                "Scope",
                Select(
                    [(k, k) for k in SCOPE_KINDS],
                    value=self.scope_kind,
                    allow_blank=False,
                    compact=True,
                    id="scope_kind",
                ),
            )
            for key, label, hint in FIELDS:
                if key == "timezone" and self.zone:
                    hint = f"default: the scope's zone ({self.zone})"
                value = self.scope_id if key == "scope_id" else ""
                yield self.row(label, Input(value, placeholder=hint, compact=True, id=key))
            yield from self.footer()

    def on_mount(self) -> None:
        self.query_one("#scope_id" if not self.scope_id else "#start", Input).focus()

    def values(self) -> dict[str, str]:
        return {key: self.query_one(f"#{key}", Input).value for key, _, _ in FIELDS}

    async def action_save(self) -> None:
        kind = self.query_one("#scope_kind", Select).value
        text = form_text(self.values(), scope_kind=str(kind))
        try:
            window = await read_window(self.nls_app.source, text, now=self.nls_app.clock())
        except NlsError as exc:
            self.error(str(exc))
            return
        self.dismiss(window)


class ConfirmScreen(NlsModal):
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Static {
        width: 60; height: auto; border: round $error; background: $surface; padding: 0 1;
    }
    """
    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        yield Static(f"{self.question}\n\n[b]y[/b] yes · [b]n[/b] no")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class MaintenanceScreen(ListScreen):
    CONTEXT: ClassVar[Context] = "maintenance"
    TITLE = "Maintenance"
    BINDINGS = bindings_for("maintenance")
    COLUMNS = ("Id", "Now", "Scope", "When", "Reason", "Announced", "By")
    SUMMARY_ID = "windows-summary"
    TABLE_ID = "windows"

    def __init__(self) -> None:
        super().__init__()
        self.windows: list[MaintenanceWindow] = []
        self.zones: dict[tuple[str, str], str] = {}
        """Each listed scope's zone, asked of the source as the windows are fetched."""

    async def fetch(self) -> list[MaintenanceWindow]:
        windows = await self.source.maintenance_list()
        for scope in {(w.scope_kind, w.scope_id) for w in windows} - self.zones.keys():
            try:
                self.zones[scope] = await self.source.scope_zone(*scope)
            except NlsError:  # a scope no longer configured: its times read in UTC
                self.zones[scope] = "UTC"
        return windows

    def rows(self, items: Sequence[MaintenanceWindow]) -> Iterable[Row]:
        self.windows = list(items)
        now = self.nls_app.clock()
        for w in items:
            zone = w.timezone or self.zones.get((w.scope_kind, w.scope_id), "UTC")
            cells = (
                str(w.id),
                "ACTIVE" if w.occurrence_at(now) is not None else "",
                f"{w.scope_kind} {w.scope_id}",
                describe_when(w, zone),
                w.reason,
                f"{_short(w.announced_at, zone)} {zone}",
                w.created_by,
            )
            yield str(w.id), cells

    def summary(self, items: Sequence[MaintenanceWindow]) -> str:
        now = self.nls_app.clock()
        active = sum(w.occurrence_at(now) is not None for w in items)
        return f"{plural(len(items), 'window')}, {active} active now · a adds · d removes"

    def action_add_window(self) -> None:
        server = self.nls_app.cursor_server_id() or ""
        zone = next((r.timezone for r in self.nls_app.known_rows() if r.server_id == server), "")
        self.app.push_screen(MaintenanceForm(scope_id=server, zone=zone), self._form_done)

    def _form_done(self, window: MaintenanceWindow | None) -> None:
        if window is not None:
            self.add(window)

    @work(exclusive=True, group="maintenance-edit", exit_on_error=False)
    async def add(self, window: MaintenanceWindow) -> None:
        stored = await self.source.maintenance_add(window)
        self.notify(f"Window {stored.id} stored for {stored.scope_kind} {stored.scope_id}")
        self.load()

    def selected_window(self) -> MaintenanceWindow | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((w for w in self.windows if str(w.id) == key), None)

    def action_remove_window(self) -> None:
        window = self.selected_window()
        if window is None:
            self.notify("No window selected.", severity="warning")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.end_window(window.id)

        self.app.push_screen(
            ConfirmScreen(
                f"Remove window {window.id} ({window.scope_kind} {window.scope_id}: "
                f"{window.reason})?"
            ),
            answered,
        )

    @work(exclusive=True, group="maintenance-edit", exit_on_error=False)
    async def end_window(self, window_id: int) -> None:
        await self.source.maintenance_remove(window_id)
        self.notify(f"Window {window_id} removed")
        self.load()
