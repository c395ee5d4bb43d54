"""Sent mail: the outbox as the engine recorded it (status, attempts, last error), newest first."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable, Footer, Static

from console.fleetview import MailRow
from console.tui.bindings import Context, bindings_for
from console.tui.header import NlsHeader
from console.tui.screens.base import NlsScreen

MAIL_STYLE = {"sent": "$text-success", "failed": "$text-error bold", "pending": "$text-warning"}


def _when(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%m-%d %H:%M")


class OutboxLoaded(Message):
    def __init__(self, mails: list[MailRow]) -> None:
        super().__init__()
        self.mails = mails


class OutboxScreen(NlsScreen):
    CONTEXT: ClassVar[Context] = "mail"
    TITLE = "Sent mail"
    BINDINGS = bindings_for("mail")
    DEFAULT_CSS = """
    OutboxScreen #mail-summary { height: 1; padding: 0 1; color: $text-muted; }
    OutboxScreen DataTable { height: 1fr; }
    """

    def compose(self) -> ComposeResult:
        yield NlsHeader(self.TITLE)
        yield Static("loading…", id="mail-summary")
        yield DataTable(id="mails", cursor_type="row", zebra_stripes=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(
            "Created", "Status", "Tries", "Server", "Subject", "Last error", "To", "Kind"
        )

    def on_screen_resume(self) -> None:
        self.load()
        self.query_one(DataTable).focus()

    def action_refresh(self) -> None:
        self.load()

    @work(exclusive=True, group="outbox", exit_on_error=False)
    async def load(self) -> None:
        self.post_message(OutboxLoaded(await self.source.outbox(200)))

    def on_outbox_loaded(self, message: OutboxLoaded) -> None:
        table = self.query_one(DataTable)
        table.clear()
        for mail in message.mails:
            table.add_row(
                _when(mail.created),
                Content.styled(mail.status, MAIL_STYLE.get(mail.status, "")),
                str(mail.attempts),
                mail.server or "",
                mail.subject,
                mail.last_error or "",
                ", ".join(mail.recipients),
                mail.kind,
                key=mail.key,
            )
        failed = sum(1 for m in message.mails if m.status == "failed")
        self.query_one("#mail-summary", Static).update(
            f"{len(message.mails)} mails, {failed} failed · r reloads"
            if message.mails
            else "No mail sent yet."
        )
