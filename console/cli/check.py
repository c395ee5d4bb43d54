"""`nls check`: one probe cycle now, through the same pipeline as a scheduled one."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click

from console.cli import output
from console.cli.main import Context
from console.errors import EXIT_FAILED, MonitorFault
from console.fleetview import CheckResult
from console.monitor.sample import Sample
from console.status import WORD

SUMMARY_COLUMNS = ("server", "customer", "status", "cameras", "problems")


@click.command()
@click.option(
    "--server", "servers", multiple=True, metavar="ID", help="Only this server (repeatable)."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line per sample.")
@click.option(
    "--all", "show_all", is_flag=True, help="Table of every sample, not one line per server."
)
@click.pass_context
def check(ctx: click.Context, servers: Sequence[str], as_json: bool, show_all: bool) -> None:
    """Run one probe cycle now, store it, and print the results.

    The cycle goes through the same pipeline as a scheduled one, with or without a daemon:
    samples, alert states and the installers' mails are stored together. So a failure reads
    PEND at first and PROB or DOWN at the check that confirms it (the third by default), where
    the installer's mail is queued. With a daemon running, the daemon runs the cycle and sends
    the mail; without one, this process runs it and the mail waits in the outbox (`nls mail
    list`) until `nls --daemon` or the console sends it.

    Exit status: 0 when every check passed, 1 when at least one failed, 2 for a configuration
    problem or an unknown server, 3 when the database is held by another process, 4 when the
    monitor itself failed (no free file descriptor or port, overload, a failing database): the
    samples it could not take are unknown, which says nothing about the servers.
    """
    obj: Context = ctx.obj
    ids = list(servers) or None
    result = obj.run(lambda source: source.check_now(ids))
    if as_json:
        for sample in result.samples:
            click.echo(json.dumps(sample_json(sample), ensure_ascii=False))
    elif show_all:
        output.table(
            ["server", "check", "subject", "state", "value", "detail"],
            [
                [s.server, s.check, s.subject, s.state, output.number(s.value), s.detail]
                for s in result.samples
            ],
        )
    else:
        output.table(SUMMARY_COLUMNS, summary(result))
    if result.health:
        raise MonitorFault(result.health)
    if any(s.state == "fail" for s in result.samples):
        ctx.exit(EXIT_FAILED)


def sample_json(s: Sample) -> dict[str, Any]:
    return {
        "ts": output.iso_utc(s.ts),
        "server": s.server,
        "check": s.check,
        "subject": s.subject,
        "state": s.state,
        "value": s.value,
        "detail": s.detail,
    }


def summary(result: CheckResult) -> list[list[str]]:
    """One line per server, its status in the grid's words (UP, PEND, PROB, DOWN, ...)."""
    failing: dict[str, list[Sample]] = {}
    for s in result.samples:
        if s.state == "fail":
            failing.setdefault(s.server, []).append(s)
    lines = []
    for row in result.rows:
        problems = [s.detail for s in failing.get(row.server_id, ())]
        text = "; ".join(problems[:3])
        if len(problems) > 3:
            text += f"; +{len(problems) - 3} more"
        cameras = (
            f"{row.cameras_online}/{row.cameras_total}"
            if row.cameras_online is not None and row.cameras_total is not None
            else "-"
        )
        lines.append([row.server_id, row.customer_name, WORD[row.status], cameras, text or "-"])
    return lines
