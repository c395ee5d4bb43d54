"""The client side of the availability desk: where a report goes, times typed by people, and a
history file sent to the source in chunks.

Everything here runs in the command's process, never in the daemon: a report arrives as an
Arrow table and is written here (the daemon never writes a client's files), and an import is
read and validated here before any of it is sent.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from console.directory import ScopeKind
from console.errors import UsageError
from console.fleetview import IMPORT_CHUNK_ROWS, FleetSource, ImportedSample, ImportSummary

FORMATS = ("table", "csv", "json", "parquet", "xlsx", "html")
_SUFFIXES = {".csv": "csv", ".json": "json", ".parquet": "parquet", ".xlsx": "xlsx"}
_SUFFIXES |= {".html": "html", ".htm": "html"}
CHUNK_BYTES = 512 * 1024
"""An import call carries at most about this much JSON, well inside the daemon's 1 MiB frame."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where a report goes: a format and a file, or standard output (path None)."""

    fmt: str
    path: Path | None


def target(fmt: str | None, path: Path | None) -> Target:
    """Check the format and the output file before anything is computed: an unknown format, a
    binary format for a terminal or a file that cannot be written is a UsageError now. `-o -`
    is standard output."""
    if path is not None and str(path) == "-":
        path = None
    if path is not None and path.is_dir():
        raise UsageError(f"cannot write {path}: it is a folder; give a file name")
    if fmt is None:
        fmt = _SUFFIXES.get(path.suffix.lower(), "") if path is not None else "table"
        if not fmt:
            assert path is not None
            raise UsageError(
                f"-o {path}: cannot tell the format from the name; add --format "
                "csv|json|parquet|xlsx|html"
            )
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")
    if path is None:
        if fmt in ("parquet", "xlsx"):
            raise UsageError(f"--format {fmt} is binary: write it to a file with -o FILE")
        return Target(fmt, None)
    if fmt == "table":
        raise UsageError(
            "--format table is for the terminal; with -o give csv, json, parquet, xlsx or html"
        )
    writable(path)
    return Target(fmt, path)


def writable(path: Path) -> None:
    """UsageError unless a file can be created beside `path` (and renamed onto it)."""
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UsageError(f"cannot write {path}: it is a folder; give a file name")
    if not folder.is_dir():
        raise UsageError(f"cannot write {path}: folder {folder} does not exist")
    try:
        handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    os.close(handle)
    os.unlink(temp)
    if path.exists() and not os.access(path, os.W_OK) and not os.access(folder, os.W_OK):
        raise UsageError(f"cannot write {path}: permission denied")


def deliver(
    table: Any,
    where: Target,
    *,
    title: str,
    meta: Mapping[str, str],
    show: Callable[[list[str], list[dict[str, Any]]], None],
) -> None:
    """Print the table (`show` for --format table) or write it, atomically when to a file."""
    from console.reports.export import ExportError, export, render

    if where.fmt == "table":
        show(list(table.column_names), table.to_pylist())
        return
    try:
        if where.path is None:
            sys.stdout.buffer.write(render(table, where.fmt, title=title, meta=meta))
            sys.stdout.flush()
            return
        export(table, where.fmt, where.path, title=title, meta=meta)
    except ExportError as exc:
        raise UsageError(str(exc)) from None


def read_time(text: str, zone: str, option: str) -> datetime:
    """'2026-03-01 22:00' in `zone`, or ISO 8601 with an offset; UsageError naming the option."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"{option} {text!r} is not a time; write '2026-03-01 22:00' (in the scope's zone) "
            "or ISO with an offset, '2026-03-01T21:00Z'"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(zone))
    return value.astimezone(UTC)


async def scoped_time(
    source: FleetSource, kind: ScopeKind, scope_id: str, text: str, option: str
) -> datetime:
    """A time typed for a server or customer: without an offset it is that scope's wall time."""
    if _has_offset(text):
        return read_time(text, "UTC", option)
    return read_time(text, await source.scope_zone(kind, scope_id), option)


def _has_offset(text: str) -> bool:
    with contextlib.suppress(ValueError):
        return datetime.fromisoformat(text.strip()).tzinfo is not None
    return False


def read_history(path: Path, known: Collection[str]) -> list[ImportedSample]:
    """The file's samples, each with its line, after validating every row (SampleImportError
    lists the bad ones: nothing is sent unless the whole file is valid)."""
    from console.reports.importer import SampleImportError, read_samples_csv

    try:
        table = read_samples_csv(path, known_servers=known, with_lines=True)
    except SampleImportError as exc:
        raise UsageError(str(exc)) from None
    return [
        ImportedSample(
            line=r["line"],
            ts=r["ts"],
            server=r["server"],
            check=r["check_name"],
            subject=r["subject"],
            state=r["state"],
            value=r["value"],
            detail=r["detail"],
        )
        for r in table.to_pylist()
    ]


def chunks(
    samples: list[ImportedSample], limit: int, size: int = CHUNK_BYTES
) -> Iterator[list[ImportedSample]]:
    """Consecutive pieces of at most `limit` samples and about `size` bytes of JSON each."""
    encode = msgspec.json.Encoder().encode
    piece: list[ImportedSample] = []
    used = 0
    for sample in samples:
        cost = len(encode(sample)) + 1
        if piece and (len(piece) >= limit or used + cost > size):
            yield piece
            piece, used = [], 0
        piece.append(sample)
        used += cost
    yield piece


async def send_history(source: FleetSource, samples: list[ImportedSample]) -> ImportSummary:
    """Stage every chunk, then commit: the source stores all of them in one transaction, or
    nothing (a chunk it refuses, or a connection lost before the commit, stores nothing)."""
    pieces = list(chunks(samples, IMPORT_CHUNK_ROWS))
    for piece in pieces[:-1]:
        await source.import_samples(piece, False)
    return await source.import_samples(pieces[-1], True)
