"""Sent mail: the outbox as the engine recorded it (status, attempts, last error), newest first,
and each mail's text and HTML bodies as the recipient got them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable, Footer, Static

from console.fleetview import MailMessage, MailRow
from console.tui.bindings import Context, bindings_for
from console.tui.header import NlsHeader
from console.tui.htmltext import html_to_text
from console.tui.screens.base import ListScreen, NlsScreen, Row, column

MAIL_STYLE = {
    "sent": "$text-success",
    "failed": "$text-error bold",
    "pending": "$text-warning",
    "sending": "$text-warning",
}


def _when(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%m-%d %H:%M")


def mail_summary(items: Sequence[MailRow], mail_enabled: bool) -> str:
    """One line: how many mails in which state, and why pending ones wait when it is known."""
    if not items:
        return "No mail yet." + ("" if mail_enabled else " No SMTP server is configured.")
    by: dict[str, int] = {}
    for mail in items:
        by[mail.status] = by.get(mail.status, 0) + 1
    noun = "mail" if len(items) == 1 else "mails"
    counts = ", ".join(f"{n} {status}" for status, n in sorted(by.items()))
    why = ""
    if not mail_enabled and by.get("pending"):
        why = " · no SMTP server is configured ([smtp]): mails are kept, not sent"
    return f"{len(items)} {noun}: {counts}{why} · enter reads one · r reloads"


class OutboxScreen(ListScreen):
    CONTEXT: ClassVar[Context] = "mail"
    TITLE = "Sent mail"
    BINDINGS = bindings_for("mail")
    COLUMNS = (
        "Created",
        column("Status", *MAIL_STYLE),
        "Tries",
        "Server",
        "Subject",
        "Last error",
        "To",
        "Kind",
    )
    SUMMARY_ID = "mail-summary"
    TABLE_ID = "mails"

    RELOAD_S: ClassVar[float] = 5.0
    """While shown, the list reloads this often: mails are queued by a cycle and sent by the
    outbox moments later, and a list frozen at "pending" would say the opposite of the truth."""

    def on_mount(self) -> None:
        self.set_interval(self.RELOAD_S, self._reload_if_shown)

    def _reload_if_shown(self) -> None:
        if self.is_current:
            self.load()

    async def fetch(self) -> list[MailRow]:
        return await self.source.outbox(200)

    def rows(self, items: Sequence[MailRow]) -> Iterable[Row]:
        for mail in items:
            cells = (
                _when(mail.created),
                Content.styled(mail.status, MAIL_STYLE.get(mail.status, "")),
                str(mail.attempts),
                mail.server or "",
                mail.subject,
                mail.last_error or "",
                ", ".join(mail.recipients),
                mail.kind,
            )
            yield mail.key, cells

    def summary(self, items: Sequence[MailRow]) -> str:
        info = self.nls_app.source_info
        return mail_summary(items, info.mail_enabled if info is not None else True)

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.app.push_screen(MailScreen(event.row_key.value))

    def action_open_mail(self) -> None:
        table = self.query_one(DataTable)
        if table.row_count:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
            if key is not None:
                self.app.push_screen(MailScreen(key))


class MailLoaded(Message):
    def __init__(self, mail: MailMessage) -> None:
        super().__init__()
        self.mail = mail


class MailScreen(NlsScreen):
    """One mail: who, when, status, then its text body; `h` shows the HTML body as text."""

    CONTEXT: ClassVar[Context] = "message"
    TITLE = "Mail"
    BINDINGS = bindings_for("message")
    DEFAULT_CSS = """
    MailScreen #mail-meta { height: auto; padding: 0 1; background: $panel; }
    MailScreen VerticalScroll { height: 1fr; padding: 0 1; }
    """

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key
        self.mail: MailMessage | None = None
        self.meta: list[Content] = []
        self.html = False

    def compose(self) -> ComposeResult:
        yield NlsHeader(self.TITLE)
        yield Static("loading…", id="mail-meta")
        with VerticalScroll():
            yield Static("", id="mail-body", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.load()

    @work(exclusive=True, group="mail", exit_on_error=False)
    async def load(self) -> None:
        self.post_message(MailLoaded(await self.source.mail(self.key)))

    def on_mail_loaded(self, message: MailLoaded) -> None:
        self.mail = message.mail
        row = message.mail.row
        sent = f"sent {_when(row.sent_at)}" if row.sent_at else row.status
        tries = f"{row.attempts} {'try' if row.attempts == 1 else 'tries'}"
        lines = [
            Content.assemble(("Subject  ", "$text-muted"), (row.subject, "bold")),
            Content.assemble(("To       ", "$text-muted"), ", ".join(row.recipients)),
            Content.assemble(
                ("Status   ", "$text-muted"),
                (sent, MAIL_STYLE.get(row.status, "")),
                f" · {tries} · created {_when(row.created)} UTC · {row.kind}",
            ),
        ]
        if row.last_error:
            lines.append(Content.assemble(("Error    ", "$text-muted"), row.last_error))
        self.meta = lines
        self._show_body()

    def _show_body(self) -> None:
        if self.mail is None:
            return
        if self.html:
            body = html_to_text(self.mail.body_html) if self.mail.body_html else "(no HTML body)"
        else:
            body = self.mail.body_text.strip("\n") or "(no text body)"
        label = "the HTML body, rendered as text" if self.html else "the text body"
        shown = Content.assemble(("Showing  ", "$text-muted"), f"{label} (h switches)")
        self.query_one("#mail-meta", Static).update(Content("\n").join([*self.meta, shown]))
        self.query_one("#mail-body", Static).update(body)

    def action_toggle_format(self) -> None:
        self.html = not self.html
        self._show_body()

    def action_back(self) -> None:
        self.app.pop_screen()
