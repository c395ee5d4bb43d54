"""`nls import`: history from another monitoring tool (or a restore), all or nothing.

The file is read and validated here, every bad row reported by its line; only a wholly valid
file is sent, in chunks that the source stores in one transaction at the end. A second import
of the same file adds nothing.
"""

from __future__ import annotations

from pathlib import Path

import click

from console.cli import output
from console.cli.main import Context
from console.fleetview import FleetSource, ImportSummary


@click.group("import")
def import_group() -> None:
    """Import history.

    \b
    Example:
      nls import samples old-monitor.csv
    """


@import_group.command("samples")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
def import_samples(obj: Context, file: Path) -> None:
    """Samples from FILE.csv with the columns of `nls check --json`:
    ts,server,check,subject,state,value,detail (ts ISO 8601 with an offset)."""
    from console.reports.delivery import read_history, send_history

    config = obj.config()
    known = {s.id for s in config.servers} | {w.id for w in config.web_checks}
    samples = read_history(file, known)

    async def send(source: FleetSource) -> ImportSummary:
        return await send_history(source, samples)

    done = obj.run(send)
    click.echo(
        f"imported {output.plural(done.added, 'sample')} from {file} "
        f"({done.skipped} already stored; {done.series} series touched)"
    )
