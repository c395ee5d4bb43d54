"""`nls credit`: record a customer's claim of a Service Level Failure (`nls report credits`
lists the failures, their references and deadlines). The author is the caller's account."""

from __future__ import annotations

import click

from console.cli import output
from console.cli.main import Context
from console.errors import UsageError
from console.fleetview import ClaimRow, FleetSource


@click.group("credit")
def credit_group() -> None:
    """Service credits: claims of Service Level Failures.

    \b
    Example:
      nls credit claim --customer acme --month 2026-03 --failure availability \\
          --at "2026-04-03 09:12"
    """


@credit_group.command("claim")
@click.option("--customer", "customer_id", required=True, metavar="ID", help="The customer.")
@click.option("--month", required=True, metavar="YYYY-MM", help="The month of the failure.")
@click.option(
    "--failure",
    required=True,
    metavar="REF",
    help="The failure's reference as `nls report credits` lists it (e.g. availability).",
)
@click.option(
    "--at",
    "claimed",
    metavar="TIME",
    default="",
    help="When the customer claimed in writing (default: now), in the customer's zone or ISO "
    "with an offset; a claim after the deadline earns no credit.",
)
@click.pass_obj
def credit_claim(obj: Context, customer_id: str, month: str, failure: str, claimed: str) -> None:
    """Record that the customer claimed this failure."""
    from console.reports.delivery import scoped_time
    from console.reports.period import Month, PeriodError

    try:
        Month.parse(month)
    except PeriodError as exc:
        raise UsageError(str(exc)) from None

    async def claim(source: FleetSource) -> ClaimRow:
        at = None
        if claimed.strip():
            at = await scoped_time(source, "customer", customer_id, claimed, "--at")
        return await source.credit_claim(customer_id, month, failure, at)

    stored = obj.run(claim)
    verb = "recorded" if stored.new else "already recorded"
    click.echo(
        f"{verb}: {stored.customer} claimed {stored.failure} of {stored.month} at "
        f"{output.local_time(stored.claimed_at)} (by {stored.author})"
    )
