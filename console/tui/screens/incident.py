"""One incident: its facts, its timers counting down live, its timeline, and the editor that
adds to it (an internal note, a public reply, a customer's message) and the one-key events
(acknowledge, waiting, resume, resolve, reopen). Also the form that opens an incident by hand.

Everything written goes through the source, which records the console's OS user as the
author; a refused event (an empty note, a closed incident) is shown where it was typed and
nothing is written.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable, Footer, Input, Label, Select, Static, TextArea

from console.desk.records import Incident, IncidentDetail, IncidentEvent, TimerRow
from console.desk.text import countdown, duration, live_state, short_time
from console.errors import NlsError
from console.sla.policy import INCIDENT_TYPES
from console.tui.bindings import Context, bindings_for
from console.tui.header import NlsHeader
from console.tui.screens.base import FormModal, NlsScreen
from console.tui.screens.incidents import state_cell

REFRESH_SECONDS = 30.0
WRITTEN = {
    "note": "Internal note",
    "reply": "Public reply to the customer",
    "customer-message": "Message or call from the customer",
}
TIMER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("timer", "Timer"),
    ("state", "State"),
    ("due", "Due"),
    ("in", "In"),
    ("remaining", "Counted left"),
    ("target", "Target"),
)


def timer_cells(timer: TimerRow, now: datetime) -> dict[str, Any]:
    state = live_state(timer, now)
    return {
        "timer": timer.kind + (f" #{timer.cycle + 1}" if timer.cycle else ""),
        "state": state_cell(state),
        "due": short_time(timer.due),
        "in": countdown(timer, now),
        "remaining": duration(timer.remaining_s) if timer.open else "",
        "target": timer.target,
    }


class IncidentLoaded(Message):
    def __init__(self, detail: IncidentDetail) -> None:
        super().__init__()
        self.detail = detail


class IncidentScreen(NlsScreen):
    CONTEXT: ClassVar[Context] = "incident"
    TITLE = "Incident"
    BINDINGS = bindings_for("incident")
    DEFAULT_CSS = """
    IncidentScreen #incident-facts { height: auto; padding: 0 1; }
    IncidentScreen #incident-timers { height: auto; max-height: 8; }
    IncidentScreen #incident-timeline { height: 1fr; }
    IncidentScreen .section { height: 1; padding: 0 1; color: $text-accent; text-style: bold; }
    """

    def __init__(self, incident_id: int) -> None:
        super().__init__()
        self.incident_id = incident_id
        self.detail: IncidentDetail | None = None
        self.loaded = 0

    def compose(self) -> ComposeResult:
        yield NlsHeader(f"Incident {self.incident_id}")
        yield Static("loading…", id="incident-facts")
        yield Label("Timers", classes="section")
        yield DataTable(id="incident-timers", cursor_type="none", zebra_stripes=True)
        yield Label("Timeline", classes="section")
        yield DataTable(id="incident-timeline", cursor_type="row", zebra_stripes=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        timers = self.query_one("#incident-timers", DataTable)
        for key, title in TIMER_COLUMNS:
            timers.add_column(title, key=key)
        timeline = self.query_one("#incident-timeline", DataTable)
        for key, title in (("seq", "#"), ("at", "At"), ("author", "Author"), ("kind", "Kind")):
            timeline.add_column(title, key=key)
        timeline.add_column("Text", key="text")
        self.set_interval(1.0, self.tick)
        self.set_interval(REFRESH_SECONDS, self._reload)
        self.load()
        timeline.focus()

    @work(exclusive=True, group="incident", exit_on_error=False)
    async def load(self) -> None:
        self.post_message(IncidentLoaded(await self.source.incident_show(self.incident_id)))

    def action_refresh(self) -> None:
        self.load()

    def _reload(self) -> None:
        if self.is_current:
            self.load()

    @on(IncidentLoaded)
    def _loaded(self, message: IncidentLoaded) -> None:
        self.detail = detail = message.detail
        now = self.nls_app.clock()
        i = detail.incident
        server = f" · server {i.server}" if i.server else ""
        facts = Content.assemble(
            (f"#{i.id} {i.title}", "bold"),
            "\n",
            f"{i.status} · {i.type} · priority {i.priority} · customer {i.customer} · "
            f"installer {i.installer}{server} · policy {i.policy}\n",
            f"opened {short_time(i.opened_at)} by {i.opened_by} ({i.source})",
        )
        with self.app.batch_update():
            self.query_one("#incident-facts", Static).update(facts)
            timers = self.query_one("#incident-timers", DataTable)
            timers.clear()
            for n, timer in enumerate(detail.timers):
                timers.add_row(*timer_cells(timer, now).values(), key=str(n))
            if not detail.timers:
                timers.add_row("no timers at this priority", "", "", "", "", "", key="none")
            timeline = self.query_one("#incident-timeline", DataTable)
            timeline.clear()
            for e in sorted(detail.events, key=lambda e: (e.at, e.seq)):
                timeline.add_row(
                    str(e.seq), short_time(e.at), e.author, e.kind, e.text, key=str(e.seq)
                )
        self.loaded += 1

    def tick(self) -> None:
        detail = self.detail
        if detail is None or not self.is_current:
            return
        now = self.nls_app.clock()
        timers = self.query_one("#incident-timers", DataTable)
        with self.app.batch_update():
            for n, timer in enumerate(detail.timers):
                if timer.open:
                    values = timer_cells(timer, now)
                    timers.update_cell(str(n), "state", values["state"])
                    timers.update_cell(str(n), "in", values["in"])

    # -- actions ----------------------------------------------------------------------------

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_write(self, kind: str) -> None:
        self.app.push_screen(EventEditor(self.incident_id, kind), self._written)

    def _written(self, event: IncidentEvent | None) -> None:
        if event is not None:
            self.notify(f"Incident {self.incident_id}: {event.kind} recorded")
            self.load()

    @work(exclusive=True, group="incident-edit", exit_on_error=False)
    async def action_record(self, kind: str) -> None:
        event = await self.source.incident_event(self.incident_id, kind)
        self._written(event)


class EventEditor(FormModal):
    """Write a note, a public reply or a customer's message; dismisses with the stored event,
    or None. The source's refusal (an empty note, a closed incident) shows in the editor."""

    DEFAULT_CSS = """
    EventEditor TextArea { height: 8; }
    """

    def __init__(self, incident_id: int, kind: str) -> None:
        super().__init__()
        self.incident_id = incident_id
        self.kind = kind

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"{WRITTEN.get(self.kind, self.kind)} · incident {self.incident_id}")
            yield TextArea(id="editor-text")
            yield from self.footer("Save (ctrl+s)")

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    async def action_save(self) -> None:
        text = self.query_one(TextArea).text
        try:
            event = await self.nls_app.source.incident_event(self.incident_id, self.kind, text)
        except NlsError as exc:
            self.error(str(exc))
            return
        self.dismiss(event)


class IncidentForm(FormModal):
    """Open an incident by hand; dismisses with the stored Incident, or None."""

    FIELDS: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("customer", "Customer", "customer id"),
        ("server", "Server", "server id (optional)"),
        ("priority", "Priority", "a priority of the customer's policy, e.g. P2"),
        ("title", "Title", "what it is about"),
    )

    def __init__(self, *, customer: str = "", server: str = "") -> None:
        super().__init__()
        self.values = {"customer": customer, "server": server}

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Open an incident (a call, a question, a wish, an RMA)")
            for key, label, hint in self.FIELDS:
                field = Input(self.values.get(key, ""), placeholder=hint, compact=True, id=key)
                yield self.row(label, field)
            yield self.row(
                "Type",
                Select(
                    [(t, t) for t in INCIDENT_TYPES],
                    value="problem",
                    allow_blank=False,
                    compact=True,
                    id="type",
                ),
            )
            yield from self.footer("Open (ctrl+s)")

    def on_mount(self) -> None:
        first = "#priority" if self.values.get("customer") else "#customer"
        self.query_one(first, Input).focus()

    def field(self, key: str) -> str:
        return self.query_one(f"#{key}", Input).value.strip()

    async def action_save(self) -> None:
        try:
            incident: Incident = await self.nls_app.source.incident_open(
                self.field("customer"),
                self.field("priority"),
                self.field("server") or None,
                str(self.query_one("#type", Select).value),
                self.field("title"),
            )
        except NlsError as exc:
            self.error(str(exc))
            return
        self.dismiss(incident)
