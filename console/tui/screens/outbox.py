"""Sent mail: the outbox as the engine recorded it (status, attempts, last error), newest first."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

from textual.content import Content
from textual.widgets import DataTable

from console.fleetview import MailRow
from console.tui.bindings import Context, bindings_for
from console.tui.screens.base import ListScreen

MAIL_STYLE = {"sent": "$text-success", "failed": "$text-error bold", "pending": "$text-warning"}


def _when(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%m-%d %H:%M")


class OutboxScreen(ListScreen):
    CONTEXT: ClassVar[Context] = "mail"
    TITLE = "Sent mail"
    BINDINGS = bindings_for("mail")
    COLUMNS = ("Created", "Status", "Tries", "Server", "Subject", "Last error", "To", "Kind")
    SUMMARY_ID = "mail-summary"
    TABLE_ID = "mails"

    async def fetch(self) -> list[MailRow]:
        return await self.source.outbox(200)

    def show(self, table: DataTable[Any], items: Sequence[MailRow]) -> str:
        for mail in items:
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
        failed = sum(1 for m in items if m.status == "failed")
        return f"{len(items)} mails, {failed} failed · r reloads" if items else "No mail sent yet."
