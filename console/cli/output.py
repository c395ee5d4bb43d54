"""How commands print: aligned tables for people, CSV and JSON lines for programs.

Every command formats through here, so a time, a number or an empty value reads the same in
`nls sql`, `nls check`, `nls mail list` and `nls maintenance list`.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import shutil
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, TypeVar

import click

Format = Literal["table", "csv", "json"]
F = TypeVar("F", bound=Callable[..., Any])


def format_option(help_text: str = "json prints one object per line.") -> Callable[[F], F]:
    """`--format table|csv|json`, the same on every command that lists things."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(["table", "csv", "json"]),
        default="table",
        show_default=True,
        help=help_text,
    )


def emit(
    fmt: Format,
    columns: Sequence[str],
    records: Iterable[Mapping[str, Any]],
    *,
    count: bool = False,
) -> None:
    """Print records (dicts by column) as a table, CSV with a header, or one JSON object per
    line. `count` adds "(n rows)" on stderr under a table, where it cannot spoil a pipe."""
    rows = list(records)
    if fmt == "json":
        for row in rows:
            click.echo(json.dumps({c: row[c] for c in columns}, default=_json, ensure_ascii=False))
    elif fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(columns)
        writer.writerows([[_csv(row[c]) for c in columns] for row in rows])
        click.echo(buffer.getvalue(), nl=False)
    else:
        table(columns, [[cell(row[c]) for c in columns] for row in rows])
        if count:
            click.echo(f"({plural(len(rows), 'row')})", err=True)


def table(columns: Sequence[str], rows: Sequence[Sequence[str]], limit: int = 60) -> None:
    """Columns as wide as their values (up to `limit`); the last one takes what the terminal
    has left, or everything when stdout is not a terminal."""
    widths = [len(c) for c in columns]
    for row in rows:
        for i, value in enumerate(row):
            widths[i] = min(max(widths[i], len(value)), limit)
    if sys.stdout.isatty() and widths:
        room = shutil.get_terminal_size().columns - sum(widths[:-1]) - 2 * (len(widths) - 1)
        widths[-1] = max(len(columns[-1]), min(widths[-1], room))
    elif widths:
        widths[-1] = max([len(columns[-1])] + [len(row[-1]) for row in rows])
    out = [
        "  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip(),
        "  ".join("-" * w for w in widths),
    ]
    for row in rows:
        cells = [
            (value if len(value) <= w else value[: w - 1] + "…").ljust(w)
            for value, w in zip(row, widths, strict=True)
        ]
        out.append("  ".join(cells).rstrip())
    click.echo("\n".join(out))


def cell(value: Any) -> str:
    """One value as a table shows it: empty for NULL, six significant digits, times with their
    offset."""
    if value is None:
        return ""
    if isinstance(value, float):
        return number(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S%z")
    if isinstance(value, list | tuple):
        return ", ".join(cell(v) for v in value)
    return str(value)


def number(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def local_time(value: datetime | None) -> str:
    """A time in this machine's zone, with its offset so nobody has to guess."""
    return value.astimezone().strftime("%Y-%m-%d %H:%M%z") if value else ""


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def records(items: Iterable[Any]) -> list[dict[str, Any]]:
    """Dataclass instances as dicts, for `emit`."""
    return [dataclasses.asdict(item) for item in items]


def iso_utc(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _csv(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "; ".join(str(v) for v in value)
    return value
