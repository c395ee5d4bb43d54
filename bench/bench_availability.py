"""Monthly availability at fleet scale: 13 months of 15-minute history for 1,000 servers (four
server checks each) and 30,000 cameras, about 1.3 billion samples, generated inside DuckDB.

Prints the time of a month's availability by server, by camera and by installer, the HTML report
of one installer, and the database's bytes per sample. Targets on the 2-core machine: by server
< 1 s, by camera < 5 s, HTML report < 3 s, < 2 bytes per sample.

    .venv/bin/python bench/bench_availability.py                  # full size (~10-20 min)
    .venv/bin/python bench/bench_availability.py --servers 100 --months 2   # a quick look
    .venv/bin/python bench/bench_availability.py --layout 001 --servers 100 --months 1

Layouts: `compact` (the prototype the targets need, sql/queries/compact_from_001.sql: samples
keyed by an INTEGER series id with a `series` table holding server/check/subject; detail stored
only when a sample is not ok; value and latency as FLOAT; each sample carrying its predecessor's
gap, state and failure run, which the writer knows from current_state) and `001` (the current
schema: three VARCHAR keys per sample, accounted by reading the month's samples in order).
Faults: every series fails for 2 hours at random (about one series in ten a month), and the
monitor itself is down one hour a month (no samples at all: unknown time for everything).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sql  # noqa: E402
from console.reports.accounting import availability  # noqa: E402
from console.reports.period import Month  # noqa: E402
from console.reports.scope import Scope, Subject  # noqa: E402
from console.sla.terms import AvailabilityTerms  # noqa: E402
from console.store.database import connect  # noqa: E402

COMPACT_MIGRATIONS = {3, 6}
"""The store's own compact layout (sample_rows behind a `samples` view); this benchmark builds
the 001 table and converts it to i12's prototype layout instead (see the report of issue 13 on
making the two one)."""


class BenchStore:
    """The database at the newest schema but with 001's `samples` table."""

    def __init__(self, path: Path) -> None:
        self.con = connect(path, settings={"threads": 2})
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS schema_version "
            "(version INTEGER PRIMARY KEY, name VARCHAR, applied TIMESTAMPTZ)"
        )
        done = {v for (v,) in self.con.execute("SELECT version FROM schema_version").fetchall()}
        for version, name, text in sql.migrations():
            if version not in done and version not in COMPACT_MIGRATIONS:
                self.con.execute(text)
                self.con.execute("INSERT INTO schema_version VALUES (?, ?, now())", [version, name])

    def close(self) -> None:
        self.con.close()


CHECKS = ("server_online", "cpu", "disk_activity", "video_rights")
PER_SERVER = len(CHECKS) + 30  # series per server: 4 checks + 30 cameras
FIRST = datetime(2025, 3, 1, tzinfo=UTC)

COMPACT_SCHEMA = """
DROP TABLE samples;
CREATE TABLE series (
    id          INTEGER PRIMARY KEY,
    server      VARCHAR NOT NULL,
    check_name  VARCHAR NOT NULL,
    subject     VARCHAR NOT NULL,
    first_ts    TIMESTAMPTZ NOT NULL
);
CREATE TABLE samples (
    ts                 TIMESTAMPTZ NOT NULL,
    cycle              BIGINT NOT NULL,
    series             INTEGER NOT NULL,
    state              sample_state NOT NULL,
    value              FLOAT,
    latency_ms         FLOAT,
    detail             VARCHAR,
    gap_us             BIGINT,
    prev_state         sample_state,
    prev_failures      INTEGER,
    prev_failed_since  TIMESTAMPTZ
);
ALTER TABLE current_state ADD COLUMN failures INTEGER;
ALTER TABLE current_state ADD COLUMN failed_since TIMESTAMPTZ;
"""
# Global 15-minute slot K (epoch seconds / 900). A series fails in 2-hour blocks (8 slots):
# FAILS(sid, K). The monitor is down one hour a month: slots [gap, gap + 4) have no samples.
FAILS = "(hash({sid}, ({k}) // 8) % 4000 = 0)"


def generate(store: BenchStore, servers: int, cameras: int, months: int, layout: str) -> int:
    con = store.con
    per = len(CHECKS) + cameras
    installers = max(1, servers // 50)
    customers = max(1, servers // 5)
    con.execute(
        "INSERT INTO installers SELECT 'inst-' || i, 'Installer ' || i, ['ops@example.com'], "
        "'nl', false FROM range(?) t(i)",
        [installers],
    )
    con.execute(
        "INSERT INTO customers SELECT 'cust-' || c, 'Customer ' || c, 'inst-' || (c % ?), "
        "'texpro', 'Europe/Brussels', false FROM range(?) t(c)",
        [installers, customers],
    )
    con.execute(
        "INSERT INTO servers SELECT 'crest-' || lpad(s::VARCHAR, 4, '0'), 'CREST ' || s, "
        "'cust-' || (s % ?), '10.0.0.1', 'windows', NULL, 'http://10.0.0.1:8080', false "
        "FROM range(?) t(s)",
        [customers, servers],
    )
    first_slot = int(FIRST.timestamp()) // 900
    series_sql = f"""
        SELECT (s * {per} + p)::INTEGER AS id, 'crest-' || lpad(s::VARCHAR, 4, '0') AS server,
               CASE WHEN p < {len(CHECKS)} THEN {list(CHECKS)}[p + 1] ELSE 'camera' END
                   AS check_name,
               CASE WHEN p < {len(CHECKS)} THEN '' ELSE 'cam-' || (p - {len(CHECKS)} + 1) END
                   AS subject,
               make_timestamptz(({first_slot} * 900 + (s % 90) * 10) * 1000000::BIGINT)
                   AS first_ts
        FROM range({servers}) a(s), range({per}) b(p)"""
    if layout == "compact":
        con.execute(COMPACT_SCHEMA)
        con.execute(f"INSERT INTO series {series_sql}")
    else:
        con.execute(f"CREATE TEMP TABLE series AS {series_sql}")
    n_series = servers * per
    total = 0
    last_k = 0
    for m in range(months):
        month_start = _add_months(FIRST, m)
        month_end = _add_months(FIRST, m + 1)
        k0 = int(month_start.timestamp()) // 900
        slots = int((month_end - month_start).total_seconds() // 900)
        gap = k0 + (9 * 86400 + 3 * 3600) // 900
        last_k = k0 + slots - 1
        t0 = time.perf_counter()
        # i runs over (slot, series) in probe order; a server's samples share its probe time
        # (its phase among 90 ten-second slots, so the column compresses to runs).
        rows = f"""
            WITH g AS (
                SELECT {k0} + i // {n_series} AS k, (i % {n_series})::INTEGER AS sid
                FROM range({slots}::BIGINT * {n_series}) t(i)
            ), h AS (
                SELECT k, sid, sid % {per} AS pos,
                       ((sid // {per}) % 90) * 10 AS phase,
                       CASE WHEN k = {gap + 4} THEN {gap - 1} ELSE k - 1 END AS kp
                FROM g
                WHERE k < {gap} OR k >= {gap + 4}
            )
            SELECT k, sid, pos, kp,
                   make_timestamptz((k * 900 + phase) * 1000000::BIGINT) AS ts,
                   CASE WHEN {FAILS.format(sid="sid", k="k")} THEN 'fail' ELSE 'ok' END AS st,
                   CASE WHEN {FAILS.format(sid="sid", k="kp")} THEN 'fail' ELSE 'ok' END AS pst,
                   make_timestamptz(((kp - kp % 8) * 900 + phase) * 1000000::BIGINT) AS psince,
                   kp < {first_slot} AS first
            FROM h
        """
        value = (
            "CASE WHEN pos = 1 THEN round(5 + (hash(sid, k) % 500) / 10.0, 1) "
            "WHEN pos = 2 THEN (100000 + hash(sid, k) % 4000000)::DOUBLE "
            "WHEN pos = 3 THEN NULL WHEN st = 'ok' THEN 1 ELSE 0 END"
        )
        latency = "CASE WHEN pos = 0 THEN round(20 + (hash(k, sid) % 2000) / 10.0, 1) END"
        detail = "CASE WHEN st = 'ok' THEN NULL ELSE 'failed (generated)' END"
        if layout == "compact":
            con.execute(
                f"INSERT INTO samples SELECT ts, k - {first_slot}, sid, st::sample_state, "
                f"{value}, {latency}, {detail}, "
                "CASE WHEN NOT first THEN (k - kp) * 900000000::BIGINT END, "
                "CASE WHEN NOT first THEN pst::sample_state END, "
                "CASE WHEN NOT first THEN CASE WHEN pst = 'fail' THEN kp % 8 + 1 ELSE 0 END END, "
                "CASE WHEN NOT first AND pst = 'fail' THEN psince END "
                f"FROM ({rows})"
            )
        else:
            con.execute(
                f"INSERT INTO samples SELECT r.ts, r.k - {first_slot}, d.server, d.check_name, "
                f"d.subject, r.st::sample_state, {value}, {latency}, "
                f"coalesce({detail}, d.check_name || ' ok') "
                f"FROM ({rows}) r JOIN series d ON d.id = r.sid"
            )
        con.execute("CHECKPOINT")
        added = slots * n_series
        total += added
        print(
            f"  month {m + 1}/{months} {month_start:%Y-%m}: ~{added / 1e6:.0f} M samples in "
            f"{time.perf_counter() - t0:.0f} s",
            flush=True,
        )
    # current_state: every series' latest sample (the last slot generated)
    extra = ", failures, failed_since" if layout == "compact" else ""
    extra_values = (
        f", CASE WHEN {FAILS.format(sid='id', k=last_k)} THEN {last_k} % 8 + 1 ELSE 0 END, "
        f"CASE WHEN {FAILS.format(sid='id', k=last_k)} THEN make_timestamptz((({last_k} - "
        f"{last_k} % 8) * 900 + (id // {per} % 90) * 10) * 1000000::BIGINT) END"
        if layout == "compact"
        else ""
    )
    con.execute(
        "INSERT INTO current_state (server, check_name, subject, state, since, last_ts, "
        f"consecutive, value, detail{extra}) "
        f"SELECT server, check_name, subject, CASE WHEN {FAILS.format(sid='id', k=last_k)} "
        "THEN 'fail' ELSE 'ok' END::sample_state, first_ts, "
        f"make_timestamptz(({last_k} * 900 + (id // {per} % 90) * 10) * 1000000::BIGINT), "
        f"1, NULL, ''{extra_values} FROM series"
    )
    return int(con.execute("SELECT count(*) FROM samples").fetchone()[0])


def _add_months(start: datetime, n: int) -> datetime:
    y, m = divmod(start.month - 1 + n, 12)
    return start.replace(year=start.year + y, month=m + 1)


def timed(label: str, fn, repeat: int = 3) -> object:  # type: ignore[no-untyped-def]
    """Best wall time of `repeat` runs, and the CPU time of that run (all threads): on a shared
    2-core machine the CPU figure / 2 is what an idle machine would show."""
    best, cpu = float("inf"), 0.0
    result = None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        wall = time.perf_counter() - t0
        if wall < best:
            best, cpu = wall, time.process_time() - c0
    load = os.getloadavg()[0]
    print(
        f"{label:<44} {best:6.2f} s wall, {cpu:6.2f} s CPU (best of {repeat}; load {load:.1f})",
        flush=True,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", type=int, default=1000)
    parser.add_argument("--cameras", type=int, default=30, help="cameras per server")
    parser.add_argument("--months", type=int, default=13)
    parser.add_argument("--layout", choices=["compact", "001"], default="compact")
    parser.add_argument("--db", type=Path, help="keep the database here (reused if present)")
    args = parser.parse_args()
    tmp = None
    if args.db is None:
        tmp = tempfile.TemporaryDirectory(prefix="nls-bench-")
        args.db = Path(tmp.name) / "bench.duckdb"
    fresh = not args.db.exists()
    store = BenchStore(args.db)
    if fresh:
        print(
            f"generating {args.months} months: {args.servers} servers x ({len(CHECKS)} checks "
            f"+ {args.cameras} cameras), layout {args.layout}",
            flush=True,
        )
        t0 = time.perf_counter()
        count = generate(store, args.servers, args.cameras, args.months, args.layout)
        print(f"generated {count:,} samples in {time.perf_counter() - t0:.0f} s", flush=True)
    else:
        count = int(store.con.execute("SELECT count(*) FROM samples").fetchone()[0])
        print(f"reusing {args.db}: {count:,} samples")
    store.con.execute("CHECKPOINT")
    size = os.path.getsize(args.db)
    print(f"database {size / 1e9:.2f} GB, {size / count:.3f} bytes per sample")

    servers = store.con.execute(
        "SELECT s.id, s.customer, c.installer FROM servers s JOIN customers c ON c.id = s.customer "
        "ORDER BY s.id"
    ).fetchall()
    scope = Scope(tuple(Subject(s, c, i, "Europe/Brussels", 900.0, 3) for s, c, i in servers))
    terms = AvailabilityTerms()
    month = Month(*_add_months(FIRST, args.months - 2).timetuple()[:2])
    print(f"month {month} ({len(servers)} servers)")
    rows = timed("availability by server", lambda: availability(store, terms, scope, month))
    print(f"  {rows.num_rows} rows")  # type: ignore[attr-defined]
    rows = timed(
        "availability by camera",
        lambda: availability(store, terms, scope, month, by="camera"),
    )
    print(f"  {rows.num_rows} rows")  # type: ignore[attr-defined]
    timed(
        "availability by installer",
        lambda: availability(store, terms, scope, month, by="installer"),
    )
    installer = servers[0][2]
    try:
        from console.reports.html import installer_report
    except ImportError:
        print("HTML report: console.reports.html not available")
    else:
        one = scope.only(installer=installer)
        html = timed(
            f"HTML report of {installer} ({len(one.subjects)} servers)",
            lambda: installer_report(store, terms, one, month, installer=installer),
        )
        print(f"  {len(html) / 1e3:.0f} kB")  # type: ignore[arg-type]
    store.close()
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
