"""Import sample history from CSV (the columns of `nls check --json`), to migrate or restore.

All or nothing: every row is validated first and every bad row reported by line number; only a
wholly valid file is stored, in one transaction with the derived tables (`current_state`,
`state_changes`, `cameras`) recomputed for the series it touched. Samples already stored (same
ts, server, check and subject) are skipped, so importing a file twice adds nothing.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from console.store.schema import SAMPLE_SCHEMA

if TYPE_CHECKING:
    from console.store.database import Store

IMPORT_COLUMNS = ("ts", "server", "check", "subject", "state", "value", "detail")
IMPORTED_CYCLE = 0  # samples that no probe cycle of this nls produced
STATES = ("ok", "fail", "unknown")
MAX_REPORTED = 20
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")
_CHECK = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

IMPORT_SCHEMA = SAMPLE_SCHEMA
"""An import file's rows are stored samples, so they have their schema."""


class SampleImportError(ValueError):
    """The file cannot be imported; `problems` holds one line per bad row (file and line)."""

    exit_code = 2

    def __init__(self, problems: list[str], total: int) -> None:
        self.problems = problems
        more = total - len(problems)
        lines = [*problems, *([f"... and {more} more bad rows"] if more > 0 else [])]
        lines.append("nothing was imported; fix the rows above and import the file again")
        super().__init__("\n".join(lines))


@dataclass(frozen=True, slots=True)
class ImportResult:
    rows: int  # valid rows in the file
    added: int  # samples stored now
    skipped: int  # already stored (or repeated in the file)
    series: int  # (server, check, subject) series touched


def read_samples_csv(
    path: Path,
    *,
    known_servers: Collection[str] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    with_lines: bool = False,
) -> pa.Table:
    """Validate the whole file and return its samples; SampleImportError lists every bad row.
    `with_lines` adds each sample's line in the file (column `line`), for a daemon's errors."""
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise SampleImportError([f"{path}: cannot read: {exc.strerror}"], 1) from None
    problems: list[str] = []
    total_bad = 0
    rows: dict[tuple[datetime, str, str, str], tuple[int, dict[str, Any]]] = {}
    latest = now() + timedelta(days=1)
    with handle:
        reader = csv.DictReader(handle)
        try:
            header = reader.fieldnames or []
        except (csv.Error, UnicodeDecodeError) as exc:
            raise SampleImportError([f"{path} line 1: not a CSV header: {exc}"], 1) from None
        missing = [c for c in IMPORT_COLUMNS if c not in header]
        extra = [c for c in header if c not in IMPORT_COLUMNS]
        if missing or extra:
            what = []
            if missing:
                what.append(f"missing column(s) {', '.join(missing)}")
            if extra:
                what.append(f"unknown column(s) {', '.join(extra)}")
            raise SampleImportError(
                [f"{path} line 1: {'; '.join(what)}; expected {','.join(IMPORT_COLUMNS)}"], 1
            )
        try:
            for raw in reader:
                line = reader.line_num
                try:
                    row = _row(raw, known_servers, latest)
                except ValueError as exc:
                    total_bad += 1
                    if len(problems) < MAX_REPORTED:
                        problems.append(f"{path} line {line}: {exc}")
                    continue
                key = (row["ts"], row["server"], row["check_name"], row["subject"])
                if key in rows:
                    first, before = rows[key]
                    if before != row:
                        total_bad += 1
                        if len(problems) < MAX_REPORTED:
                            problems.append(
                                f"{path} line {line}: same ts, server, check and subject as "
                                f"line {first} but different values; keep one of them"
                            )
                    continue
                rows[key] = (line, row)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise SampleImportError(
                [f"{path} line {reader.line_num}: not valid CSV: {exc}"], 1
            ) from None
    if total_bad:
        raise SampleImportError(problems, total_bad)
    ordered = sorted(rows.values(), key=lambda lr: (lr[1]["ts"], lr[1]["server"]))
    schema = IMPORT_SCHEMA.append(pa.field("line", pa.int64())) if with_lines else IMPORT_SCHEMA
    return pa.Table.from_pylist(
        [{**r, "cycle": IMPORTED_CYCLE, "latency_ms": None, "line": n} for n, r in ordered],
        schema=schema,
    )


def _row(raw: dict[str, Any], known: Collection[str] | None, latest: datetime) -> dict[str, Any]:
    if None in raw:
        raise ValueError("more fields than columns in the header")
    text = {k: (raw.get(k) or "") for k in IMPORT_COLUMNS}
    ts_text = text["ts"].strip()
    try:
        ts = datetime.fromisoformat(ts_text)
    except ValueError:
        raise ValueError(
            f"ts {ts_text!r} is not an ISO 8601 time such as 2026-03-01T00:15:00Z"
        ) from None
    if ts.tzinfo is None:
        raise ValueError(f"ts {ts_text!r} has no time zone; add Z (UTC) or an offset")
    ts = ts.astimezone(UTC)
    if ts > latest:
        raise ValueError(f"ts {ts_text!r} lies in the future")
    server = text["server"].strip()
    if not _ID.match(server):
        raise ValueError(f"server {server!r} is not a server id")
    if known is not None and server not in known:
        raise ValueError(f"server {server!r} is not in the configuration; add it first")
    check = text["check"].strip()
    if not _CHECK.match(check):
        raise ValueError(f"check {check!r} is not a check name such as server_online")
    state = text["state"].strip()
    if state not in STATES:
        raise ValueError(f"state {state!r} is not one of {', '.join(STATES)}")
    value_text = text["value"].strip()
    value: float | None = None
    if value_text and value_text.lower() not in ("null", "none"):
        try:
            value = float(value_text)
        except ValueError:
            raise ValueError(f"value {value_text!r} is not a number (or empty)") from None
        if not math.isfinite(value):
            raise ValueError(f"value {value_text!r} is not a finite number")
    return {
        "ts": ts,
        "server": server,
        "check_name": check,
        "subject": text["subject"].strip(),
        "state": state,
        "value": value,
        "detail": text["detail"],
    }


def store_samples(con: Store, samples: pa.Table) -> tuple[int, int]:
    """Append samples not stored yet and recompute the derived tables of the series touched,
    all in one transaction, through the store's write path (series, detail templates, rollups
    and predecessors as for a probe batch); returns (added, series)."""
    return con.import_samples(samples)


def import_samples(
    con: Store,
    path: Path,
    *,
    known_servers: Collection[str] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ImportResult:
    """Validate `path` wholly, then store what is new; SampleImportError leaves the store as
    it was."""
    table = read_samples_csv(path, known_servers=known_servers, now=now)
    added, series = store_samples(con, table)
    return ImportResult(table.num_rows, added, table.num_rows - added, series)
