"""`nls stats`: how much the store holds and what a sample costs on disk."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import click


@click.command("stats")
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of the table.")
@click.pass_obj
def stats(obj: Any, as_json: bool) -> None:
    """Samples stored (raw and archived), rollups, and bytes on disk per sample."""
    from console.store.database import Store
    from console.store.stats import collect

    config = obj.config()
    database, archive = config.database_path, config.archive_path

    async def remote(source: Any) -> Any:
        return await collect(database, archive, source.sql)

    def local() -> Any:
        with Store(database, read_only=True) as store:

            async def query(text: str) -> Any:
                return store.query(text)

            return asyncio.run(collect(database, archive, query))

    figures = obj.run(config, remote, local)
    if as_json:
        click.echo(json.dumps(figures.as_dict(), default=str))
        return
    for line in figures.lines():
        click.echo(line)
