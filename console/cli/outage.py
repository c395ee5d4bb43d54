"""`nls outage`: excuse failed time after the fact (the contract's exceptions), with an audit
trail: who (the caller's account, from the socket's peer credentials), when and why; undone by
revoking, never by deleting. Reports recompute from what is live."""

from __future__ import annotations

import click

from console.cli import output
from console.cli.main import Context
from console.fleetview import ExclusionRow, FleetSource

COLUMNS = ("id", "server", "from", "to", "by", "recorded", "revoked", "reason")


@click.group("outage")
def outage_group() -> None:
    """Exclusions: failed time that is not charged (customer fault, force majeure, third party).

    \b
    Examples:
      nls outage exclude --server crest-0003 --from "2026-03-04 10:00" --to "2026-03-04 12:30" \\
          --reason "customer cut the power (ticket 4411)"
      nls outage list
      nls outage revoke 3
    """


@outage_group.command("exclude")
@click.option("--server", "server_id", required=True, metavar="ID", help="Server or web check.")
@click.option(
    "--from",
    "starts",
    required=True,
    metavar="TIME",
    help="'2026-03-04 10:00' (in the server's zone) or ISO with an offset.",
)
@click.option("--to", "ends", required=True, metavar="TIME", help="Like --from; after it.")
@click.option("--reason", required=True, help="Why the time is excused; reports quote it.")
@click.pass_obj
def outage_exclude(obj: Context, server_id: str, starts: str, ends: str, reason: str) -> None:
    """Excuse the server's failed time from --from to --to."""
    from console.reports.delivery import scoped_time

    async def add(source: FleetSource) -> ExclusionRow:
        begin = await scoped_time(source, "server", server_id, starts, "--from")
        end = await scoped_time(source, "server", server_id, ends, "--to")
        return await source.outage_exclude(server_id, begin, end, reason)

    stored = obj.run(add)
    click.echo(
        f"excluded {stored.server} {output.local_time(stored.starts)} -> "
        f"{output.local_time(stored.ends)} as exclusion {stored.id} (by {stored.author})"
    )


@outage_group.command("revoke")
@click.argument("exclusion_id", type=click.IntRange(1, 2**63 - 1))
@click.pass_obj
def outage_revoke(obj: Context, exclusion_id: int) -> None:
    """Undo an exclusion: the row stays, stamped with who revoked it and when."""
    stored = obj.run(lambda source: source.outage_revoke(exclusion_id))
    click.echo(f"revoked exclusion {stored.id} on {stored.server} (by {stored.revoked_by})")


@outage_group.command("list")
@click.option("--all", "include_revoked", is_flag=True, help="Also revoked exclusions.")
@output.format_option()
@click.pass_obj
def outage_list(obj: Context, include_revoked: bool, fmt: output.Format) -> None:
    """Exclusions in force (with --all, revoked ones too)."""
    found = obj.run(lambda source: source.outage_list(include_revoked))
    if fmt != "table":
        output.emit(fmt, list(ExclusionRow.__dataclass_fields__), output.records(found))
        return
    output.table(
        COLUMNS,
        [
            [
                str(e.id),
                e.server,
                output.local_time(e.starts),
                output.local_time(e.ends),
                e.author,
                output.local_time(e.created_at),
                f"{output.local_time(e.revoked_at)} by {e.revoked_by}" if e.revoked_at else "-",
                e.reason,
            ]
            for e in found
        ],
    )
