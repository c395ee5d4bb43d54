"""`nls mail`: the outbox, where every notification is stored before it is sent."""

from __future__ import annotations

import click

from console.cli import output
from console.cli.main import Context

COLUMNS = ("created", "status", "kind", "server", "to", "subject", "tries", "error")


@click.group("mail")
def mail_group() -> None:
    """The e-mail outbox: every notification is stored before it is sent."""


@mail_group.command("list")
@click.option(
    "--limit",
    type=click.IntRange(1, 10000),
    default=50,
    show_default=True,
    help="How many of the newest mails to look at.",
)
@click.option(
    "--status",
    type=click.Choice(["pending", "sending", "sent", "failed"]),
    help="Only those of the newest --limit mails that have this status.",
)
@output.format_option()
@click.pass_obj
def mail_list(obj: Context, limit: int, status: str | None, fmt: output.Format) -> None:
    """Newest mails first: when, status, kind, server, recipients, subject, attempts, error."""
    rows = obj.run(lambda source: source.outbox(limit))
    output.emit(
        fmt,
        COLUMNS,
        [
            {
                "created": output.local_time(r.created) if fmt == "table" else r.created,
                "status": r.status,
                "kind": r.kind,
                "server": r.server,
                "to": r.recipients,
                "subject": r.subject,
                "tries": r.attempts,
                "error": r.last_error,
            }
            for r in rows
            if status is None or r.status == status
        ],
    )
