"""Sample histories for the availability tests, stored through the history import path."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from console.reports.importer import IMPORT_SCHEMA, store_samples
from console.reports.scope import Scope, Subject

Q = timedelta(minutes=15)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def spans(*pairs: tuple[datetime, datetime]) -> Callable[[datetime], bool]:
    """True inside any [start, end)."""
    return lambda t: any(a <= t < b for a, b in pairs)


def series(
    server: str,
    check: str,
    start: datetime,
    end: datetime,
    *,
    subject: str = "",
    failing: Callable[[datetime], bool] = lambda _t: False,
    unknown: Callable[[datetime], bool] = lambda _t: False,
    every: timedelta = Q,
) -> list[dict[str, Any]]:
    """One sample every `every` in [start, end): fail where `failing`, unknown where `unknown`."""
    rows = []
    t = start
    while t < end:
        state = "unknown" if unknown(t) else "fail" if failing(t) else "ok"
        rows.append(
            {
                "ts": t,
                "cycle": 0,
                "server": server,
                "check_name": check,
                "subject": subject,
                "state": state,
                "value": 1.0 if state == "ok" else 0.0,
                "latency_ms": None,
                "detail": f"{check} {state}",
            }
        )
        t += every
    return rows


def store(con: Any, *groups: Iterable[dict[str, Any]]) -> None:
    rows = [r for g in groups for r in g]
    store_samples(con, pa.Table.from_pylist(rows, schema=IMPORT_SCHEMA))


def scope(*subjects: tuple[str, str, str], zone: str = "Europe/Brussels", n: int = 3) -> Scope:
    return Scope(tuple(Subject(s, c, i, zone, 900.0, n) for s, c, i in subjects))
