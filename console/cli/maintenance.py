"""`nls maintenance`: windows in which failures are recorded but no alert is sent."""

from __future__ import annotations

import dataclasses

import click

from console.cli import output
from console.cli.main import Context
from console.clock import utcnow
from console.errors import UsageError
from console.fleetview import FleetSource
from console.monitor.maintenance import MaintenanceWindow
from console.monitor.windowtext import WindowText, read_window

COLUMNS = ("id", "scope", "when", "announced", "recorded", "by", "reason")
"""`recorded` is when the store took the window and `by` who: a window announced or starting
before it was recorded was declared after the fact. The reason, the longest, goes last."""


@click.group("maintenance")
def maintenance_group() -> None:
    """Maintenance windows: failures are recorded but no alert is sent.

    \b
    Examples:
      nls maintenance add --server crest-0003 --start "2026-03-01 22:00" --end "2026-03-02 02:00" \\
          --reason "disk replacement"
      nls maintenance add --customer acme --cron "0 2 * * 0" --timezone Europe/Brussels \\
          --duration 120 --reason "weekly Windows updates"
      nls maintenance list
      nls maintenance remove 4
    """


@maintenance_group.command("add")
@click.option("--server", metavar="ID", help="The window covers this server.")
@click.option("--customer", metavar="ID", help="The window covers every server of this customer.")
@click.option("--installer", metavar="ID", help="The window covers every server of this installer.")
@click.option(
    "--start",
    metavar="TIME",
    default="",
    help="'2026-03-01 22:00' (in the scope's zone) or ISO with an offset, '2026-03-01T21:00Z'. "
    "With --cron: the first day it applies.",
)
@click.option(
    "--end", metavar="TIME", default="", help="Like --start; with --cron: when it stops applying."
)
@click.option(
    "--cron", metavar="EXPR", default="", help="Recurring: a 5-field crontab, e.g. '0 2 * * 0'."
)
@click.option(
    "--timezone",
    metavar="ZONE",
    default="",
    help="IANA zone of --cron and of times without an offset (default: the scope's zone: the "
    "customer's, else the installer's).",
)
@click.option("--duration", type=click.IntRange(1), metavar="MIN", help="Minutes, with --cron.")
@click.option("--reason", required=True, help="Why; SLA reports quote it.")
@click.option(
    "--announced",
    metavar="TIME",
    default="",
    help="When the customer was told (default: now); SLA reports distinguish announced work.",
)
@click.pass_obj
def maintenance_add(
    obj: Context,
    server: str | None,
    customer: str | None,
    installer: str | None,
    duration: int | None,
    **fields: str,
) -> None:
    """Add a one-off (--start/--end) or recurring (--cron/--duration) window."""
    scopes = [(k, v) for k, v in (("server", server), ("customer", customer)) if v]
    scopes += [("installer", installer)] if installer else []
    if len(scopes) != 1:
        raise UsageError("give exactly one of --server, --customer or --installer")
    (kind, scope_id), now = scopes[0], utcnow()
    text = WindowText(kind, scope_id, duration="" if duration is None else str(duration), **fields)

    async def add(source: FleetSource) -> MaintenanceWindow:
        return await source.maintenance_add(await read_window(source, text, now=now))

    stored = obj.run(add)
    click.echo(f"added maintenance window {stored.id}: {describe(stored)}")


@maintenance_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@output.format_option()
@click.pass_obj
def maintenance_list(obj: Context, as_json: bool, fmt: output.Format) -> None:
    """Active windows (one-off ones that ended stay listed until removed)."""
    windows = obj.run(lambda source: source.maintenance_list())
    if as_json or fmt != "table":
        fields = [f.name for f in dataclasses.fields(MaintenanceWindow)]
        output.emit("json" if as_json else fmt, fields, output.records(windows))
        return
    output.table(
        COLUMNS,
        [
            [
                str(w.id),
                f"{w.scope_kind} {w.scope_id}",
                describe(w),
                output.local_time(w.announced_at),
                output.local_time(w.recorded_at) or "-",
                w.created_by or "-",
                w.reason,
            ]
            for w in windows
        ],
    )


@maintenance_group.command("remove")
@click.argument("window_id", type=int)
@click.pass_obj
def maintenance_remove(obj: Context, window_id: int) -> None:
    """End a window now (its row stays, for SLA history)."""
    obj.run(lambda source: source.maintenance_remove(window_id))
    click.echo(f"removed maintenance window {window_id}")


def describe(w: MaintenanceWindow) -> str:
    """When a window applies, in this machine's zone with offsets (cron in its own zone)."""
    if w.cron:
        text = f"cron '{w.cron}' {w.timezone}, {w.duration_min} min"
        if w.starts:
            text += f", from {output.local_time(w.starts)}"
        if w.ends:
            text += f", until {output.local_time(w.ends)}"
        return text
    return f"{output.local_time(w.starts)} -> {output.local_time(w.ends)}"
