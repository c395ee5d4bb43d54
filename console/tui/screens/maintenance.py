"""Maintenance windows: the list the alerting consults, a form to announce one (one-off or
recurring by cron), and removal. Windows are stored by the source; removal is soft there."""

from __future__ import annotations

import getpass
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Input, Label, Select, Static

from console.fleetview import ServerRow
from console.monitor.maintenance import SCOPE_KINDS, MaintenanceError, MaintenanceWindow
from console.tui.bindings import Context, bindings_for
from console.tui.screens.base import ListScreen, NlsModal, Row

DEFAULT_ZONE = "Europe/Brussels"
FIELDS: tuple[tuple[str, str, str], ...] = (
    ("scope_id", "Scope id", "server, customer or installer id"),
    ("starts", "Starts", "YYYY-MM-DD HH:MM (one-off, local time)"),
    ("ends", "Ends", "YYYY-MM-DD HH:MM (one-off, local time)"),
    ("cron", "Cron", "recurring: min hour dom mon dow, e.g. 0 2 * * sun"),
    ("duration", "Minutes", "recurring: duration in minutes"),
    ("timezone", "Time zone", DEFAULT_ZONE),
    ("reason", "Reason", "why (SLA reports quote it)"),
)


def _local(text: str, zone: ZoneInfo, name: str) -> datetime | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise MaintenanceError(f"{name} {text!r}: write YYYY-MM-DD HH:MM") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


def window_from_form(
    values: Mapping[str, str], *, scope_kind: str, now: datetime, user: str = ""
) -> MaintenanceWindow:
    """A validated window from the form's text; MaintenanceError names the field at fault."""
    zone_name = values.get("timezone", "").strip() or DEFAULT_ZONE
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise MaintenanceError(
            f"time zone {zone_name!r} is unknown; e.g. Europe/Brussels"
        ) from None
    cron = values.get("cron", "").strip() or None
    duration_text = values.get("duration", "").strip()
    duration: int | None = None
    if duration_text:
        try:
            duration = int(duration_text)
        except ValueError:
            raise MaintenanceError(f"minutes {duration_text!r} is not a whole number") from None
    return MaintenanceWindow(
        id=0,
        scope_kind=scope_kind,  # type: ignore[arg-type]
        scope_id=values.get("scope_id", "").strip(),
        reason=values.get("reason", "").strip(),
        announced_at=now,
        created_by=user,
        starts=_local(values.get("starts", ""), zone, "starts"),
        ends=_local(values.get("ends", ""), zone, "ends"),
        cron=cron,
        timezone=zone_name if cron else None,
        duration_min=duration if cron else None,
    )


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


def scope_zone(kind: str, scope_id: str, rows: Iterable[ServerRow]) -> str | None:
    """The time zone of a window's scope, from the servers it covers (their customers' zone);
    None when they disagree (an installer with customers in two zones) or none is known."""
    attr = {"server": "server_id", "customer": "customer_id", "installer": "installer_id"}[kind]
    zones = {r.timezone for r in rows if getattr(r, attr) == scope_id}
    return zones.pop() if len(zones) == 1 else None


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


class MaintenanceForm(NlsModal):
    """Dismisses with a validated MaintenanceWindow, or None."""

    DEFAULT_CSS = """
    MaintenanceForm { align: center middle; }
    MaintenanceForm > Vertical {
        width: 78; max-width: 100%; height: auto; max-height: 100%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    MaintenanceForm Horizontal { height: 1; }
    MaintenanceForm .field-label { width: 10; color: $text-muted; }
    MaintenanceForm Input { width: 1fr; }
    MaintenanceForm Select { width: 1fr; }
    MaintenanceForm #form-error { color: $text-error; height: auto; }
    MaintenanceForm #form-buttons { height: 1; align-horizontal: right; margin-top: 1; }
    MaintenanceForm Button { min-width: 10; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="form.cancel"),
        Binding("ctrl+s", "save", "Save", id="form.save"),
    ]

    def __init__(self, *, scope_kind: str = "server", scope_id: str = "", zone: str = "") -> None:
        super().__init__()
        self.scope_kind = scope_kind
        self.scope_id = scope_id
        self.zone = zone

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Announce a maintenance window (one-off: starts+ends; recurring: cron)")
            with Horizontal():
                yield Label("Scope", classes="field-label")
                yield Select(
                    [(k, k) for k in SCOPE_KINDS],
                    value=self.scope_kind,
                    allow_blank=False,
                    compact=True,
                    id="scope_kind",
                )
            for key, label, hint in FIELDS:
                with Horizontal():
                    yield Label(label, classes="field-label")
                    yield Input(
                        {"scope_id": self.scope_id, "timezone": self.zone}.get(key, ""),
                        placeholder=hint,
                        compact=True,
                        id=key,
                    )
            yield Static("", id="form-error")
            with Horizontal(id="form-buttons"):
                yield Button("Save", id="save", variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#scope_id" if not self.scope_id else "#starts", Input).focus()

    def values(self) -> dict[str, str]:
        return {key: self.query_one(f"#{key}", Input).value for key, _, _ in FIELDS}

    def action_save(self) -> None:
        kind = self.query_one("#scope_kind", Select).value
        try:
            window = window_from_form(
                self.values(),
                scope_kind=str(kind),
                now=self.nls_app.clock(),
                user=_user(),
            )
        except MaintenanceError as exc:
            self.query_one("#form-error", Static).update(str(exc))
            return
        self.dismiss(window)

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#save")
    def _save(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)


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


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


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

    async def fetch(self) -> list[MaintenanceWindow]:
        return await self.source.maintenance_list()

    def rows(self, items: Sequence[MaintenanceWindow]) -> Iterable[Row]:
        self.windows = list(items)
        now = self.nls_app.clock()
        servers = list(self.nls_app.known_rows())
        for w in items:
            zone = w.timezone or scope_zone(w.scope_kind, w.scope_id, servers) or "UTC"
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
        zone = scope_zone("server", server, self.nls_app.known_rows()) if server else None
        self.app.push_screen(MaintenanceForm(scope_id=server, zone=zone or ""), self._form_done)

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
                self.remove(window.id)

        self.app.push_screen(
            ConfirmScreen(
                f"Remove window {window.id} ({window.scope_kind} {window.scope_id}: "
                f"{window.reason})?"
            ),
            answered,
        )

    @work(exclusive=True, group="maintenance-edit", exit_on_error=False)
    async def remove(self, window_id: int) -> None:
        await self.source.maintenance_remove(window_id)
        self.notify(f"Window {window_id} removed")
        self.load()
