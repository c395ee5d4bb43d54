"""`nls sql`: read-only SQL on the store, through the daemon when one runs."""

from __future__ import annotations

import click

from console.cli import output
from console.cli.main import Context
from console.sqlresult import result_cut


@click.command("sql")
@click.argument("query")
@output.format_option()
@click.pass_obj
def sql_command(obj: Context, query: str, fmt: output.Format) -> None:
    """Run read-only SQL on the store (tables: samples, current_state, state_changes, servers,
    customers, installers, cameras, cycles, alert_state, outbox, maintenance, findings,
    rollup_hour, rollup_day).

    One statement; writes and file access are refused, and SQL DuckDB cannot run exits 2 like
    any other bad input. A statement that runs past the [sql] timeout is stopped; a result past
    [sql] max_rows or max_bytes is cut, and says so on stderr. Example:
    nls sql "SELECT server, count(*) FROM samples GROUP BY ALL"
    """
    found = obj.run(lambda source: source.sql(query))
    output.emit(fmt, found.column_names, found.to_pylist(), count=True)
    cut = result_cut(found)
    if cut:  # the [sql] limits cut the result: say so where it cannot spoil a pipe
        click.echo(f"nls: {cut}", err=True)
