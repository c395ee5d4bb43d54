"""Write a report (an Arrow table) as CSV, JSON, Parquet, XLSX or HTML.

Every format keeps exactly the table's columns. Files are written to a temporary file beside the
target and renamed into place, so a failure never leaves a half-written export; a path that
cannot be written is one ExportError line naming it.
"""

from __future__ import annotations

import contextlib
import csv
import html
import io
import json
import math
import os
import tempfile
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

FORMATS = ("csv", "json", "parquet", "xlsx", "html")
BINARY_FORMATS = frozenset({"parquet", "xlsx"})


class ExportError(ValueError):
    """The export cannot be written; one line naming the path or format and what to do."""

    exit_code = 2


def export(
    table: pa.Table,
    fmt: str,
    path: Path,
    *,
    title: str = "",
    meta: Mapping[str, str] | None = None,
) -> Path:
    """Write `table` to `path` atomically in `fmt`; returns the path."""
    writer = _writer(fmt)
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise ExportError(f"cannot write {path}: it is a directory; give a file name")
    if not directory.is_dir():
        raise ExportError(f"cannot write {path}: folder {directory} does not exist")
    try:
        handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(handle, "wb") as out:
            writer(table, out, title, dict(meta or {}))
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except OSError as exc:
        _discard(temp)
        raise ExportError(f"cannot write {path}: {exc.strerror}") from None
    except BaseException:
        _discard(temp)
        raise
    return path


def render(
    table: pa.Table, fmt: str, *, title: str = "", meta: Mapping[str, str] | None = None
) -> bytes:
    """The export as bytes (for standard output or a mail attachment)."""
    buffer = io.BytesIO()
    _writer(fmt)(table, buffer, title, dict(meta or {}))
    return buffer.getvalue()


def rows(table: pa.Table) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts: times in ISO 8601 UTC, floats finite or None."""
    return [{k: _plain(v) for k, v in r.items()} for r in table.to_pylist()]


# -- writers ----------------------------------------------------------------------------------

Writer = Callable[[pa.Table, BinaryIO, str, dict[str, str]], None]


def _writer(fmt: str) -> Writer:
    writers: dict[str, Writer] = {
        "csv": _csv,
        "json": _json,
        "parquet": _parquet,
        "xlsx": _xlsx,
        "html": _html,
    }
    if fmt not in writers:
        raise ExportError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    return writers[fmt]


def _csv(table: pa.Table, out: BinaryIO, _title: str, _meta: dict[str, str]) -> None:
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(table.column_names)
    for r in rows(table):
        writer.writerow(["" if v is None else _cell_text(v) for v in r.values()])
    out.write(text.getvalue().encode("utf-8"))


def _json(table: pa.Table, out: BinaryIO, _title: str, _meta: dict[str, str]) -> None:
    out.write(json.dumps(rows(table), ensure_ascii=False, indent=1).encode("utf-8") + b"\n")


def _parquet(table: pa.Table, out: BinaryIO, _title: str, meta: dict[str, str]) -> None:
    schema_meta = dict(table.schema.metadata or {})
    schema_meta.update({k.encode(): v.encode() for k, v in meta.items()})
    pq.write_table(table.replace_schema_metadata(schema_meta), out, compression="zstd")


def _xlsx(table: pa.Table, out: BinaryIO, title: str, meta: dict[str, str]) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = (title or "report")[:31]
    sheet.append(table.column_names)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    widths = [len(name) for name in table.column_names]
    for r in table.to_pylist():
        values = []
        for n, v in enumerate(r.values()):
            cell = _xlsx_value(v)
            values.append(cell)
            widths[n] = max(widths[n], min(len(_cell_text(v)) if v is not None else 0, 60))
        sheet.append(values)
    for n, field in enumerate(table.schema):
        letter = get_column_letter(n + 1)
        sheet.column_dimensions[letter].width = widths[n] + 2
        if pa.types.is_timestamp(field.type):
            for cell in sheet[letter][1:]:
                cell.number_format = "yyyy-mm-dd hh:mm:ss"
        elif pa.types.is_floating(field.type):
            for cell in sheet[letter][1:]:
                cell.number_format = "0.0000" if field.name.endswith("_pct") else "0.###"
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
    if meta:
        about = book.create_sheet("about")
        for key, value in meta.items():
            about.append([key, value])
        about.append(["times", "UTC"])
    book.save(out)


def _html(table: pa.Table, out: BinaryIO, title: str, meta: dict[str, str]) -> None:
    out.write(html_document(title or "report", html_table(table), meta).encode("utf-8"))


def html_table(table: pa.Table) -> str:
    """A plain <table> of every row, numbers right-aligned; everything escaped."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.column_names)
    body = []
    for r in table.to_pylist():
        cells = []
        for v in r.values():
            numeric = isinstance(v, int | float) and not isinstance(v, bool)
            css = ' class="n"' if numeric else ""
            text = "" if v is None else _cell_text(v)
            cells.append(f"<td{css}>{html.escape(text)}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em;color:#1d2733}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:2em}
table{border-collapse:collapse;font-size:.85em}th,td{border:1px solid #cfd6de;padding:.25em .5em}
th{background:#eef2f6;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
.meta{color:#5b6875;font-size:.85em}pre{white-space:pre-wrap;font-size:.8em;background:#f6f8fa;
padding:1em}.miss{color:#b3261e;font-weight:600}.ok{color:#1e7b34;font-weight:600}
"""


def html_document(title: str, body: str, meta: Mapping[str, str] | None = None) -> str:
    """A self-contained page: inline style, no scripts, no external assets."""
    about = "".join(
        f"<div>{html.escape(k)}: {html.escape(v)}</div>" for k, v in (meta or {}).items()
    )
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f'<body><h1>{html.escape(title)}</h1><div class="meta">{about}</div>{body}'
        "</body></html>\n"
    )


# -- values -----------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _cell_text(value: Any) -> str:
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(round(value, 6)) if math.isfinite(value) else ""
    return str(value)


def _xlsx_value(value: Any) -> Any:
    """Typed cells: numbers, booleans and times (naive UTC: Excel has no zones)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list | dict):
        return json.dumps(value, default=str)
    return value


def _iso(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _discard(temp: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(temp)
