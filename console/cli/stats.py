"""`nls stats`: how much the store holds and what a sample costs on disk."""

from __future__ import annotations

import json
from typing import Any

import click

from console.cli.main import Context


@click.command("stats")
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of the table.")
@click.pass_obj
def stats(obj: Context, as_json: bool) -> None:
    """Samples stored (raw and archived), rollups, and bytes on disk per sample.

    The counts come through the daemon's SQL when one runs (ops only, like `nls sql`); the
    sizes from the database and archive files themselves."""
    from console.store.stats import collect

    config = obj.config()
    database, archive = config.database_path, config.archive_path

    async def figures(source: Any) -> Any:
        return await collect(database, archive, source.sql)

    found = obj.run(figures)
    if as_json:
        click.echo(json.dumps(found.as_dict(), default=str))
        return
    for line in found.lines():
        click.echo(line)
