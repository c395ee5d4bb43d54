"""Exports open in the tools people use (openpyxl for XLSX, DuckDB for Parquet, an HTML
parser), keep exactly the report's keys, and never leave a half-written file behind."""

from __future__ import annotations

import json
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import openpyxl
import pyarrow as pa
import pytest

from console.reports.accounting import (
    FIGURES,
    RULES_VERSION,
    availability,
    daily,
    month_tables,
    outages,
)
from console.reports.export import FORMATS, ExportError, export, render
from console.reports.html import installer_report
from console.sla.terms import AvailabilityTerms
from console.store.database import Store
from tests.availability_data import scope, series, spans, store, utc

APRIL = "2026-04"
BEFORE, END = utc(2026, 3, 31, 20), utc(2026, 4, 30, 22)
SCOPE = scope(("s1", "acme", "inst"), ("s2", "acme", "inst"))


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "nls.duckdb") as s:
        store(
            s,
            series(
                "s1",
                "server_online",
                BEFORE,
                END,
                failing=spans((utc(2026, 4, 3, 10), utc(2026, 4, 3, 11))),
            ),
            series("s2", "server_online", BEFORE, utc(2026, 4, 20)),
        )
        yield s


@pytest.fixture
def report(db: Store) -> pa.Table:
    return availability(db, AvailabilityTerms(), SCOPE, APRIL)


def test_json_is_a_list_of_objects_with_exactly_the_keys(report: pa.Table, tmp_path: Path) -> None:
    path = export(report, "json", tmp_path / "a.json")
    rows = json.loads(path.read_text(encoding="utf-8"))
    assert [list(r) for r in rows] == [["server", *FIGURES]] * 2
    # s1: 60 min down of 43,200 -> 99.86111%
    assert rows[0]["availability_pct"] == 99.8611 and rows[0]["met"] is False


def test_csv_round_trips_through_duckdb(report: pa.Table, tmp_path: Path) -> None:
    path = export(report, "csv", tmp_path / "a.csv")
    back = duckdb.sql(f"SELECT * FROM read_csv('{path}')").fetchall()
    assert back[0][:3] == ("s1", 43200.0, 60.0)
    assert path.read_text(encoding="utf-8").splitlines()[0] == ",".join(["server", *FIGURES])


def test_parquet_opens_in_duckdb(report: pa.Table, tmp_path: Path) -> None:
    path = export(report, "parquet", tmp_path / "a.parquet", meta={"rules_version": RULES_VERSION})
    con = duckdb.connect()
    rows = con.execute(
        f"SELECT server, downtime_minutes, unknown_minutes FROM read_parquet('{path}')"
    ).fetchall()
    # s2 stops on 04-20 00:00Z (its last sample, 23:45Z, holds until 00:15Z):
    # unknown 04-20 00:15Z .. 04-30 22:00Z = 10 days 21 h 45 min = 15,705 min
    assert rows == [("s1", 60.0, 0.0), ("s2", 0.0, 15705.0)]
    codec = con.execute(f"SELECT DISTINCT compression FROM parquet_metadata('{path}')").fetchall()
    assert codec == [("ZSTD",)]


def test_xlsx_opens_with_typed_cells(db: Store, tmp_path: Path) -> None:
    listed = outages(db, AvailabilityTerms(), SCOPE, APRIL)
    path = export(
        listed, "xlsx", tmp_path / "o.xlsx", title="outages", meta={"rules_version": RULES_VERSION}
    )
    book = openpyxl.load_workbook(path)
    sheet = book["outages"]
    header = [c.value for c in sheet[1]]
    assert header == listed.column_names
    first = {h: c.value for h, c in zip(header, sheet[2], strict=True)}
    assert first["start"] == utc(2026, 4, 3, 10).replace(tzinfo=None)
    assert first["minutes"] == 60.0 and isinstance(first["failed_checks"], int)
    assert book["about"]["B1"].value == RULES_VERSION


def test_html_table_parses_and_escapes(tmp_path: Path) -> None:
    table = pa.table({"server": ["<b>x</b>"], "availability_pct": [99.5]})
    path = export(table, "html", tmp_path / "a.html", title="t & t")
    text = path.read_text(encoding="utf-8")
    cells = _parse(text).cells
    assert cells == ["server", "availability_pct", "<b>x</b>", "99.5"]
    assert "<b>x</b>" not in text


def test_bad_path_or_format_is_one_line_and_writes_nothing(
    report: pa.Table, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ExportError, match=r"^cannot write .*: folder .*missing does not exist$"):
        export(report, "csv", out / "missing" / "a.csv")
    with pytest.raises(ExportError, match=r"^format 'pdf' is not one of csv, json"):
        export(report, "pdf", out / "a.pdf")
    with pytest.raises(ExportError, match="is a directory"):
        export(report, "csv", out)
    assert list(out.iterdir()) == []


def test_a_write_failing_midway_keeps_the_previous_file(
    report: pa.Table, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import console.reports.export as module

    def half(table: pa.Table, out: object, title: str, meta: object) -> None:
        out.write(b"PK\x03\x04 half a workbook")  # type: ignore[attr-defined]
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(module, "_xlsx", half)
    target = tmp_path / "a.xlsx"
    target.write_bytes(b"previous")
    with pytest.raises(ExportError, match=r"^cannot write .*a.xlsx: No space left on device$"):
        export(report, "xlsx", target)
    assert target.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_every_format_renders(report: pa.Table) -> None:
    for fmt in FORMATS:
        assert render(report, fmt)


def test_installer_html_report_is_self_contained(db: Store) -> None:
    page = installer_report(
        db,
        AvailabilityTerms(),
        SCOPE,
        APRIL,
        installer="inst",
        installer_name="Secutec",
        language="nl",
        now=utc(2026, 5, 1, 6),
    )
    parsed = _parse(page)
    assert parsed.tags["svg"] == 2 and parsed.tags["table"] >= 3
    assert "Beschikbaarheidsrapport Secutec 2026-04" in parsed.text
    assert RULES_VERSION in parsed.text and "Rekenregels voor beschikbaarheid" in parsed.text
    # no external assets: nothing is fetched from anywhere
    assert not parsed.links and "<script" not in page
    # the daily bars: 30 days of April; on 04-03 both servers together were down 60 of
    # 2 x 1,440 minutes: 97.9167%
    assert parsed.titles[2] == "2026-04-03: 97.9167%, 60 min"
    assert len([t for t in parsed.titles if t.startswith("2026-04-")]) == 30


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: dict[str, int] = {}
        self.cells: list[str] = []
        self.titles: list[str] = []
        self.links: list[str] = []
        self.text = ""
        self._in: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] = self.tags.get(tag, 0) + 1
        self._in.append(tag)
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.links.append(value)

    def handle_endtag(self, tag: str) -> None:
        if self._in and self._in[-1] == tag:
            self._in.pop()

    def handle_data(self, data: str) -> None:
        self.text += data
        if self._in and self._in[-1] in ("td", "th"):
            self.cells.append(data)
        if self._in and self._in[-1] == "title" and "svg" in self._in:
            self.titles.append(data)


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    page.close()
    return page


def test_month_tables_match_the_single_reports(db: Store) -> None:
    terms = AvailabilityTerms()
    tables = month_tables(db, terms, SCOPE, APRIL)
    assert tables.servers == availability(db, terms, SCOPE, APRIL)
    assert tables.customers == availability(db, terms, SCOPE, APRIL, by="customer")
    assert tables.installers == availability(db, terms, SCOPE, APRIL, by="installer")
    assert tables.outages == outages(db, terms, SCOPE, APRIL)
    assert tables.daily == daily(db, terms, SCOPE, APRIL)
