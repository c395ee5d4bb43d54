"""The availability desk's commands end to end (issue 12), embedded and attached to a real daemon:
`nls import samples`, `nls report availability|outages|credits|html`, `nls outage
exclude|list|revoke` and `nls credit claim`, with the same transcript in both modes (see
tests/test_cli.py), exact minutes from a worked example, every format opened in the tool people
use for it, and bad input refused in one line with nothing written.

Worked example (October 2026, Europe/Brussels: 44,700 minutes, DST ends on the 25th): crest-0001
and crest-0002 are checked every 15 minutes all month; crest-0001's `server_online` fails from
08:00 to 10:00 UTC on the 10th (8 failed checks). Downtime 120 min; confirmed from the end of the
3rd failed check, 90 min; availability (44,700 - 120) / 44,700 = 99.7315%. An exclusion of
10:00-11:00 Brussels time (08:00-09:00 UTC) excuses 60 of them: 99.8658%. The other servers have
no samples in October: all unknown, never downtime.
"""

from __future__ import annotations

import html.parser
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import openpyxl

from tests.test_cli import Site, sim, site

__all__ = ["sim", "site"]
MONTH = "2026-10"
FIGURES = [
    "period_minutes",
    "downtime_minutes",
    "confirmed_downtime_minutes",
    "excluded_minutes",
    "unknown_minutes",
    "availability_pct",
    "target_pct",
    "met",
    "outages",
    "longest_outage_minutes",
    "resolution_minutes",
]


def history(path: Path, *, bad_line: bool = False, detail: str = "") -> Path:
    """October (and the evening before) for crest-0001 and -0002, one outage on crest-0001."""
    lines = ["ts,server,check,subject,state,value,detail"]
    t = datetime(2026, 9, 30, 20, tzinfo=UTC)
    down = (datetime(2026, 10, 10, 8, tzinfo=UTC), datetime(2026, 10, 10, 10, tzinfo=UTC))
    while t < datetime(2026, 11, 1, 1, tzinfo=UTC):
        for server in ("crest-0001", "crest-0002"):
            state = "fail" if server == "crest-0001" and down[0] <= t < down[1] else "ok"
            stamp = t.isoformat().replace("+00:00", "Z")
            lines.append(f"{stamp},{server},server_online,,{state},,{detail}")
        t += timedelta(minutes=15)
    if bad_line:
        lines.insert(len(lines) // 2, "2026-10-15T00:00:00Z,crest-0001,server_online,,broken,,")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def availability(site: Site, *args: str) -> dict[str, dict[str, object]]:
    result = site.nls("report", "availability", "--month", MONTH, "--format", "json", *args)
    assert result.code == 0, result.err
    rows = json.loads(result.out)
    return {r[next(iter(r))]: r for r in rows}


def test_import_reports_exclusion_and_claim_match_the_worked_example(site: Site) -> None:
    bad = site.nls("import", "samples", str(history(site.folder / "bad.csv", bad_line=True)))
    assert bad.code == 2 and "line 2997: state 'broken'" in bad.err, bad.err
    assert "nothing was imported" in bad.err and not bad.out
    first = site.nls("import", "samples", str(history(site.folder / "h.csv")))
    assert first.code == 0, first.err
    assert first.out.startswith("imported 5992 samples from ") and "(0 already stored;" in first.out
    again = site.nls("import", "samples", str(site.folder / "h.csv"))
    assert again.code == 0 and again.out.startswith("imported 0 samples"), again.out
    assert "(5992 already stored;" in again.out

    rows = availability(site)
    assert list(rows["crest-0001"]) == ["server", *FIGURES]
    one = rows["crest-0001"]
    assert (one["period_minutes"], one["downtime_minutes"]) == (44700, 120)
    assert one["confirmed_downtime_minutes"] == 90 and one["availability_pct"] == 99.7315
    assert (one["met"], one["outages"], one["longest_outage_minutes"]) == (False, 1, 120)
    assert rows["crest-0002"]["availability_pct"] == 100 and rows["crest-0002"]["met"] is True
    assert rows["crest-0003"]["unknown_minutes"] == 44700
    assert rows["crest-0003"]["downtime_minutes"] == 0

    excluded = site.nls(
        "outage",
        "exclude",
        "--server",
        "crest-0001",
        "--from",
        "2026-10-10 10:00",
        "--to",
        "2026-10-10 11:00",
        "--reason",
        "customer cut the power",
    )
    assert excluded.code == 0 and "as exclusion 1 (by root)" in excluded.out, excluded.err
    one = availability(site, "--customer", "cust-001")["crest-0001"]
    assert (one["downtime_minutes"], one["excluded_minutes"]) == (60, 60)
    assert one["availability_pct"] == 99.8658
    outages = site.nls("report", "outages", "--month", MONTH, "--format", "json")
    counted = [o for o in json.loads(outages.out) if o["status"] == "counted"]
    assert len(counted) == 1 and counted[0]["start"] == "2026-10-10T08:00:00Z"
    assert "exclusion #1: customer cut the power (by root)" in counted[0]["excused_by"]
    listed = site.nls("outage", "list", "--format", "json").json_lines()
    assert [(e["id"], e["author"], e["revoked_at"]) for e in listed] == [(1, "root", None)]
    assert listed[0]["starts"] == "2026-10-10T08:00:00+00:00"

    revoked = site.nls("outage", "revoke", "1")
    assert (
        revoked.code == 0 and revoked.out.strip() == "revoked exclusion 1 on crest-0001 (by root)"
    )
    twice = site.nls("outage", "revoke", "1")
    assert (twice.code, twice.err.strip()) == (2, "nls: exclusion 1 is already revoked")
    assert site.nls("outage", "list").out.count("\n") == 2  # header and rule: none in force
    assert availability(site)["crest-0001"]["downtime_minutes"] == 120

    claim = site.nls(
        "credit",
        "claim",
        "--customer",
        "cust-001",
        "--month",
        MONTH,
        "--failure",
        "availability",
        "--at",
        "2026-11-03 10:00",
    )
    assert claim.code == 0 and claim.out.startswith("recorded: cust-001 claimed availability")
    repeat = site.nls(
        "credit", "claim", "--customer", "cust-001", "--month", MONTH, "--failure", "availability"
    )
    assert repeat.code == 0 and repeat.out.startswith("already recorded:"), repeat.out
    credits = site.nls("report", "credits", "--month", MONTH, "--format", "json")
    mine = [c for c in json.loads(credits.out) if c["customer"] == "cust-001"]
    assert mine and mine[0]["failures"] == 1 and mine[0]["claimed_in_time"] == 1


def test_every_format_opens_in_its_tool_and_is_written_atomically(site: Site) -> None:
    assert site.nls("import", "samples", str(history(site.folder / "h.csv"))).code == 0
    base = ("report", "availability", "--month", MONTH, "--by", "installer")
    for suffix in ("csv", "json", "parquet", "xlsx", "html"):
        done = site.nls(*base, "-o", str(site.folder / f"r.{suffix}"))
        assert done.code == 0 and not done.out and not done.err, done.err
    assert not [p for p in site.folder.iterdir() if p.name.endswith(".tmp")]
    parquet = duckdb.sql(f"SELECT * FROM '{site.folder / 'r.parquet'}' ORDER BY installer")
    assert parquet.columns == ["installer", *FIGURES] and len(parquet.fetchall()) == 3
    sheet = openpyxl.load_workbook(site.folder / "r.xlsx").active
    assert sheet is not None and next(sheet.iter_rows(values_only=True))[0] == "installer"
    assert (site.folder / "r.csv").read_text().startswith("installer,period_minutes,")
    assert len(json.loads((site.folder / "r.json").read_text())) == 3
    table = site.nls(*base)
    assert table.out.splitlines()[0].split()[:2] == ["INSTALLER", "PERIOD_MINUTES"]

    page = site.nls("report", "html", "--month", MONTH, "--installer", "secutec", "-o", "-")
    assert page.code == 0 and page.out.startswith("<!DOCTYPE html>"), page.err
    done = site.nls(
        "report",
        "html",
        "--month",
        MONTH,
        "--installer",
        "secutec",
        "-o",
        str(site.folder / "p.html"),
    )
    assert done.code == 0, done.err
    text = (site.folder / "p.html").read_text(encoding="utf-8")
    parser = html.parser.HTMLParser()
    parser.feed(text)
    parser.close()
    assert text.startswith("<!DOCTYPE html>") and "<svg" in text and "crest-0001" in text


def test_bad_report_input_is_one_line_exit_2_and_writes_nothing(site: Site) -> None:
    out = site.folder / "never.csv"
    cases = [
        (("report", "availability", "--month", "2026-13", "-o", str(out)), "month '2026-13'"),
        (("report", "availability", "--month", MONTH, "--installer", "nope"), "no installer"),
        (("report", "outages", "--month", MONTH, "--customer", "nope"), "no customer 'nope'"),
        (("report", "availability", "--month", MONTH, "--by", "rack"), "--by 'rack'"),
        (("report", "availability", "--month", MONTH, "--format", "pdf"), "--format 'pdf'"),
        (("report", "availability", "--month", MONTH, "--format", "xlsx"), "binary"),
        (
            ("report", "availability", "--month", MONTH, "-o", str(site.folder / "no" / "x.csv")),
            "does not exist",
        ),
        (("report", "availability", "--month", MONTH, "-o", str(site.folder)), "folder"),
        (
            (
                "outage",
                "exclude",
                "--server",
                "crest-0001",
                "--from",
                "2026-10-10T10:00Z",
                "--to",
                "2026-10-10T09:00Z",
                "--reason",
                "x",
            ),
            "is not after --from",
        ),
        (
            (
                "outage",
                "exclude",
                "--server",
                "nope",
                "--from",
                "2026-10-10T10:00Z",
                "--to",
                "2026-10-10T11:00Z",
                "--reason",
                "x",
            ),
            "no server 'nope'",
        ),
        (("outage", "revoke", "7"), "no exclusion 7"),
        (
            ("credit", "claim", "--customer", "cust-001", "--month", "10/2026", "--failure", "a"),
            "month '10/2026'",
        ),
        (
            ("credit", "claim", "--customer", "nope", "--month", MONTH, "--failure", "a"),
            "no customer 'nope'",
        ),
    ]
    for args, words in cases:
        result = site.nls(*args)
        assert result.code == 2, (args, result)
        assert len(result.err.splitlines()) == 1 and words in result.err, (args, result.err)
        assert not result.out and "Traceback" not in result.err
    assert not out.exists()
    assert site.nls("outage", "list", "--all", "--format", "json").out == ""


def test_an_import_larger_than_a_request_frame_goes_in_chunks_all_or_nothing(site: Site) -> None:
    """2.9 MB of history: more than the daemon's 1 MiB request limit, sent in chunks that are
    stored in one transaction; the same file with one bad row near its end stores nothing."""
    detail = "probe detail text " * 24
    big = history(site.folder / "big.csv", detail=detail)
    assert big.stat().st_size > 2_800_000
    bad = history(site.folder / "bad.csv", detail=detail, bad_line=True)
    refused = site.nls("import", "samples", str(bad))
    assert refused.code == 2 and "state 'broken'" in refused.err
    count = "SELECT count(*) AS n FROM samples WHERE ts < '2026-11-02'"
    assert site.nls("sql", count, "--format", "csv").out.split() == ["n", "0"]
    done = site.nls("import", "samples", str(big))
    assert done.code == 0 and done.out.startswith("imported 5992 samples"), done.err
    assert site.nls("sql", count, "--format", "csv").out.split() == ["n", "5992"]
