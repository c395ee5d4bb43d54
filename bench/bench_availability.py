"""Monthly availability at fleet scale: 13 months of 15-minute history for 1,000 servers (four
server checks each) and 30,000 cameras, about 1.3 billion samples, generated inside DuckDB.

Prints the time of a month's availability by server, by camera and by installer, the HTML report
of one installer, and the database's bytes per sample. Targets on the 2-core machine: by server
< 1 s, by camera < 5 s, HTML report < 3 s, < 2 bytes per sample.

    .venv/bin/python bench/bench_availability.py                  # full size (~10-20 min)
    .venv/bin/python bench/bench_availability.py --servers 100 --months 2   # a quick look

The store is the daemon's own (built by `Store`, all migrations): raw rows keyed by series id
with FLOAT values, detail templates and each sample's predecessor (gap, state, failure run), in
the writer's order; hourly and daily rollups derived from the raw rows, hourly ones older than
[database] keep_hourly_days dropped month by month as the daemon drops them nightly; state
changes of every failure. Bytes per sample as `nls stats` counts them: the database file over
its samples, and where they go, table by table.
Faults: every series fails for 2 hours at random (about one series in ten a month), and the
monitor itself is down one hour a month (no samples at all: unknown time for everything).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from console.reports.accounting import availability  # noqa: E402
from console.reports.period import Month  # noqa: E402
from console.reports.scope import Scope, Subject  # noqa: E402
from console.sla.terms import AvailabilityTerms  # noqa: E402
from console.store.database import Store  # noqa: E402
from console.store.stats import file_sizes  # noqa: E402

CHECKS = ("server_online", "cpu", "disk_activity", "video_rights")
FIRST = datetime(2025, 3, 1, tzinfo=UTC)
# Global 15-minute slot K (epoch seconds / 900). A series fails in 2-hour blocks (8 slots):
# FAILS(sid, K). The monitor is down one hour a month: slots [gap, gap + 4) have no samples.
FAILS = "(hash({sid}, ({k}) // 8) % 4000 = 0)"


# Detail templates: (check, state code) -> template; a row's NULL detail is its default.
TEMPLATES = {
    ("camera", 0): "{label}: online, recording",
    ("camera", 1): "{label}: camera offline (NoConnection)",
    ("server_online", 0): "online; Eocortex 4.1.23 answered in {l0} ms",
    ("server_online", 1): "server offline: nothing answers (Eocortex: cannot connect: timed out)",
    ("cpu", 0): "CPU at {v1}% over 5 s",
    ("cpu", 1): "CPU above 98% over 5 s",
    ("disk_activity", 0): "disk writing {vM} MB/s over 5 s",
    ("disk_activity", 1): "no disk activity: 0 B/s written while cameras are set to record",
    ("video_rights", 0): "the nls user cannot view live or recorded video",
    ("video_rights", 1): "the nls user can view video",
}


def generate(store: Store, servers: int, cameras: int, months: int, keep_hourly_days: int) -> int:
    """The store filled as the daemon fills it: per 15-minute slot each server's
    samples at its phase, in the writer's order (time, then series); values as the checks
    write them (CPU and disk rate random at 0.01, latency at 0.1 ms); rollups and state changes
    derived from the rows; hourly rollups older than `keep_hourly_days` dropped after each
    month (the daemon drops them nightly, so its file holds fewer free blocks than this one).
    A slot's servers are consecutive, as their series ids are in the daemon, which numbers
    series as it first stores them, slot by slot."""
    con = store.con
    per = len(CHECKS) + cameras
    first_slot = int(FIRST.timestamp()) // 900
    _inventory(con, servers)
    con.execute(
        f"""INSERT INTO series
        SELECT (s * {per} + p)::INTEGER, 'crest-' || lpad(s::VARCHAR, 4, '0'),
               CASE WHEN p < {len(CHECKS)} THEN {list(CHECKS)}[p + 1] ELSE 'camera' END,
               CASE WHEN p < {len(CHECKS)} THEN '' ELSE 'cam-' || (p - {len(CHECKS)} + 1) END,
               CASE WHEN p < {len(CHECKS)} THEN '' ELSE 'Camera ' || (p - {len(CHECKS)} + 1) END,
               make_timestamptz(({first_slot} * 900 + s * 90 // {servers} * 10) * 1000000::BIGINT)
        FROM range({servers}) a(s), range({per}) b(p)"""
    )
    for n, ((check, code), template) in enumerate(TEMPLATES.items(), 1):
        con.execute("INSERT INTO details VALUES (?, ?)", [n, template])
        con.execute("INSERT INTO detail_defaults VALUES (?, ?, ?)", [check, code, n])
    n_series = servers * per
    total = 0
    last_k = 0
    for m, month_start, month_end, k0, slots, gap in _months(months):
        last_k = k0 + slots - 1
        t0 = time.perf_counter()
        fails = FAILS.format(sid="sid", k="k")
        prev_fails = FAILS.format(sid="sid", k="kp")
        # each sample's predecessor, as the writer stores it (migration 007): the previous
        # slot's sample, or the one before the monitor's own hour-long outage. (Two failure
        # blocks back to back, about one series in 4,000 a month, count as two runs here.)
        con.execute(
            f"""
            INSERT INTO sample_rows
            WITH g AS (
                SELECT {k0} + i // {n_series} AS k, (i % {n_series})::INTEGER AS sid
                FROM range({slots}::BIGINT * {n_series}) t(i)
            ), h AS (
                SELECT k, sid, sid % {per} AS pos, (sid // {per}) * 90 // {servers} AS phase,
                       CASE WHEN {fails} THEN 1 ELSE 0 END AS st,
                       CASE WHEN k = {gap + 4} THEN {gap - 1} ELSE k - 1 END AS kp
                FROM g
                WHERE k < {gap} OR k >= {gap + 4}
            ), q AS (
                SELECT *, kp < {first_slot} AS first,
                       CASE WHEN {prev_fails} THEN 1 ELSE 0 END AS pst
                FROM h
            )
            SELECT (k - {first_slot}) * 90 + phase,
                   make_timestamptz((k * 900 + phase * 10) * 1000000::BIGINT), sid, st,
                   CASE WHEN pos = 1 THEN round(5 + (hash(sid, k) % 5500) / 100.0, 2)
                        WHEN pos = 2 THEN round(2e6 + (hash(sid, k) % 700000000) / 100.0, 2)
                        WHEN pos = 3 THEN NULL
                        WHEN st = 0 THEN 1 ELSE 0 END::FLOAT,
                   CASE WHEN pos = 0 AND st = 0 THEN round(2 + (hash(k, sid) % 380) / 10.0, 1)
                   END::FLOAT,
                   NULL,
                   CASE WHEN NOT first THEN (k - kp) * 900000000::BIGINT END,
                   CASE WHEN NOT first THEN pst END,
                   CASE WHEN NOT first THEN CASE WHEN pst = 1 THEN kp % 8 + 1 ELSE 0 END END,
                   CASE WHEN NOT first AND pst = 1
                        THEN make_timestamptz(((kp - kp % 8) * 900 + phase * 10)
                                              * 1000000::BIGINT) END
            FROM q
            ORDER BY k, phase, sid
            """
        )
        hours = """
            SELECT date_trunc('hour', r.ts) AS hour, s.server, s.check_name,
                   (count(*) FILTER (WHERE r.state = 0))::INTEGER,
                   (count(*) FILTER (WHERE r.state = 1))::INTEGER,
                   (count(*) FILTER (WHERE r.state = 2))::INTEGER,
                   count(r.value)::INTEGER, sum(r.value::DOUBLE), min(r.value::DOUBLE),
                   max(r.value::DOUBLE)
            FROM sample_rows AS r JOIN series AS s ON s.id = r.series
            WHERE r.ts >= $start AND r.ts < $end
            GROUP BY ALL"""
        bounds = {"start": month_start, "end": month_end}
        con.execute(f"INSERT INTO rollup_hour {hours} ORDER BY 1, 2, 3", bounds)
        con.execute(
            """INSERT INTO rollup_day
            SELECT date_trunc('day', hour), server, check_name, sum(ok), sum(fail), sum(unknown),
                   sum(value_n), sum(value_sum), min(value_min), max(value_max)
            FROM rollup_hour WHERE hour >= $start AND hour < $end
            GROUP BY ALL ORDER BY 1, 2, 3""",
            bounds,
        )
        # every 2-hour failure block: a fail interval and the ok one that follows it
        con.execute(
            f"""INSERT INTO state_changes
            WITH b AS (
                SELECT sid, blk, (sid // {per}) * 90 // {servers} AS phase
                FROM range({n_series}) a(sid),
                     range({k0 // 8}, {(k0 + slots) // 8}) c(blk)
                WHERE hash(sid, blk) % 4000 = 0
            )
            SELECT s.server, s.check_name, s.subject, x.state::sample_state,
                   make_timestamptz(((b.blk * 8 + x.o) * 900 + b.phase * 10) * 1000000::BIGINT),
                   make_timestamptz(((b.blk * 8 + x.o + x.len) * 900 + b.phase * 10)
                                    * 1000000::BIGINT),
                   'generated'
            FROM b JOIN series AS s ON s.id = b.sid,
                 (VALUES ('fail', 0, 8), ('ok', 8, 8)) x(state, o, len)
            ORDER BY 5"""
        )
        pruned = store.prune_rollups(month_end, keep_hourly_days)
        con.execute("CHECKPOINT")
        added = int(store.scalar("SELECT count(*) FROM sample_rows")) - total
        total += added
        print(
            f"  month {m + 1}/{months} {month_start:%Y-%m}: {added / 1e6:.0f} M samples in "
            f"{time.perf_counter() - t0:.0f} s ({pruned:,} hourly rollups dropped)",
            flush=True,
        )
    failing = FAILS.format(sid="id", k=last_k)
    phase = f"(id // {per} * 90 // {servers})"
    con.execute(
        "INSERT INTO current_state (server, check_name, subject, state, since, last_ts, "
        "consecutive, value, detail, failures, failed_since) "
        f"SELECT server, check_name, subject, CASE WHEN {failing} "
        f"THEN 'fail' ELSE 'ok' END::sample_state, TIMESTAMPTZ '{FIRST.isoformat()}', "
        f"make_timestamptz(({last_k} * 900 + {phase} * 10) * 1000000::BIGINT), "
        f"1, NULL, '', CASE WHEN {failing} THEN {last_k % 8 + 1} ELSE 0 END, "
        f"CASE WHEN {failing} THEN make_timestamptz((({last_k - last_k % 8}) * 900 + {phase} * 10)"
        " * 1000000::BIGINT) END FROM series"
    )
    return total


def _inventory(con: Any, servers: int) -> None:
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


def print_tables(store: Store, count: int) -> None:
    """Where the file's bytes go: blocks per table (a block shared by two tables counts in
    both) and the free blocks DuckDB will reuse."""
    size, used, free = store.con.execute(
        "SELECT block_size, used_blocks, free_blocks FROM pragma_database_size()"
    ).fetchone()
    print(f"  blocks: {used:,} used, {free:,} free ({free * size / 1e9:.2f} GB reusable)")
    for table in ("sample_rows", "rollup_hour", "rollup_day", "state_changes", "series"):
        blocks, rows = store.con.execute(
            f"SELECT (SELECT count(DISTINCT block_id) FROM pragma_storage_info('{table}') "
            f"WHERE block_id >= 0), (SELECT count(*) FROM {table})"
        ).fetchone()
        print(
            f"  {table:<14} {rows:>14,} rows {blocks * size / 1e6:10.1f} MB "
            f"{blocks * size / count:6.3f} bytes per sample"
        )


def _months(months: int) -> Iterator[tuple[int, datetime, datetime, int, int, int]]:
    """(n, start, end, first 15-minute slot, slots, first slot of the monitor's own hour-long
    outage) of each generated month."""
    for m in range(months):
        start, end = _add_months(FIRST, m), _add_months(FIRST, m + 1)
        k0 = int(start.timestamp()) // 900
        slots = int((end - start).total_seconds() // 900)
        yield m, start, end, k0, slots, k0 + (9 * 86400 + 3 * 3600) // 900


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
    parser.add_argument(
        "--keep-hourly-days", type=int, default=35, help="[database] keep_hourly_days"
    )
    parser.add_argument("--db", type=Path, help="keep the database here (reused if present)")
    args = parser.parse_args()
    tmp = None
    if args.db is None:
        tmp = tempfile.TemporaryDirectory(prefix="nls-bench-")
        args.db = Path(tmp.name) / "bench.duckdb"
    fresh = not args.db.exists()
    store = Store(args.db, settings={"threads": 2})
    if fresh:
        print(
            f"generating {args.months} months: {args.servers} servers x ({len(CHECKS)} checks "
            f"+ {args.cameras} cameras)",
            flush=True,
        )
        t0 = time.perf_counter()
        count = generate(store, args.servers, args.cameras, args.months, args.keep_hourly_days)
        print(f"generated {count:,} samples in {time.perf_counter() - t0:.0f} s", flush=True)
    else:
        count = int(store.scalar("SELECT count(*) FROM sample_rows"))
        print(f"reusing {args.db}: {count:,} samples")
    store.con.execute("CHECKPOINT")
    size = file_sizes(args.db)
    print(f"database {size / 1e9:.2f} GB, {size / count:.3f} bytes per sample (file + WAL)")
    print_tables(store, count)

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
