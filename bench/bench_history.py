"""The detail screen's history of one server at 10,000 servers x 13 months: rollups, not raw.

Run: .venv/bin/python bench/bench_history.py [--servers 10000] [--months 13] [--keep DIR]

Builds the hourly and daily rollup tables as the write path leaves them (rows appended hour by
hour, server by server, five server-level checks) for the whole span, then times the named
`history` query the detail screen uses for 24 h, 7 d and 30 d of one server (best of 5), and
the grid's 30-day availability per server for the fleet. Target (issue 13): 30 d < 100 ms.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from console.store.database import Store

CHECKS = ("server_online", "camera", "video_rights", "cpu", "disk_activity")


def build(store: Store, servers: int, hours: int, end: datetime, hourly_days: int) -> None:
    """Daily rollups for the whole span; hourly ones for the last `hourly_days` days (the
    24 h and 7 d views read those, pruned by hour; 13 months of them are 474 million rows at
    10,000 servers, which this machine takes half an hour to generate), appended in the order
    the write path appends (time, server, check)."""
    start = end - timedelta(hours=hours)
    checks = "['" + "','".join(CHECKS) + "']"
    store.con.execute(
        f"""
        INSERT INTO rollup_day
        SELECT $start::TIMESTAMPTZ + to_days(d::INTEGER) AS day,
               printf('crest-%05d', s + 1) AS server, {checks}[c + 1] AS check_name,
               CASE WHEN c = 1 THEN 2880 ELSE 96 END, 0, 0, 96,
               CASE c WHEN 3 THEN 96 * (20 + (hash(d, s) % 2000) / 100.0)
                      WHEN 4 THEN 96 * (2e6 + hash(s, d) % 6000000) ELSE 96 END,
               NULL, NULL
        FROM range($days) AS t(d), range($servers) AS u(s), range(5) AS v(c)
        ORDER BY d, s, c
        """,
        {"start": start, "days": hours // 24, "servers": servers},
    )
    for day in range(hours - hourly_days * 24, hours, 24):
        store.con.execute(
            f"""
            INSERT INTO rollup_hour
            SELECT $start::TIMESTAMPTZ + to_hours(($day + h)::BIGINT) AS hour,
                   printf('crest-%05d', s + 1) AS server,
                   {checks}[c + 1] AS check_name,
                   CASE WHEN c = 1 THEN 120 ELSE 4 END AS ok, 0 AS fail, 0 AS unknown,
                   4 AS value_n,
                   CASE c WHEN 3 THEN 4 * (20 + (hash(h, s) % 2000) / 100.0)
                          WHEN 4 THEN 4 * (2e6 + hash(s, h) % 6000000) ELSE 4 END AS value_sum,
                   NULL AS value_min, NULL AS value_max
            FROM range(24) AS t(h), range($servers) AS u(s), range(5) AS v(c)
            ORDER BY h, s, c
            """,
            {"start": start, "day": day, "servers": servers},
        )
    store.con.execute("CHECKPOINT")


def best(fn: object, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--servers", type=int, default=10_000)
    parser.add_argument("--months", type=int, default=13)
    parser.add_argument("--hourly-days", type=int, default=10)
    parser.add_argument("--keep", help="build (or reuse) the database in this folder")
    args = parser.parse_args()
    folder = Path(args.keep or tempfile.mkdtemp(prefix="nls-bench-history-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "history.duckdb"
    end = datetime(2026, 12, 1, tzinfo=UTC)
    hours = round(args.months * 30.44) * 24  # whole days
    try:
        with Store(path) as store:
            if not store.scalar("SELECT count(*) FROM rollup_hour"):
                t0 = time.perf_counter()
                build(store, args.servers, hours, end, args.hourly_days)
                print(
                    f"built {hours // 24 * args.servers * 5:,} daily and "
                    f"{args.hourly_days * 24 * args.servers * 5:,} hourly rollup rows in "
                    f"{time.perf_counter() - t0:.0f} s; file {path.stat().st_size / 1e9:.2f} GB"
                )
            server = f"crest-{random.Random(7).randrange(args.servers) + 1:05d}"
            print(
                f"history of {server} among {args.servers:,} servers x {args.months} months "
                "(best of 5):"
            )
            for label, days in (("24 h", 1), ("7 d", 7), ("30 d", 30)):
                since = end - timedelta(days=days)
                took = best(
                    lambda since=since: store.named(
                        "history", [server, "cpu", since, end]
                    ).to_pylist()
                )
                points = len(store.named("history", [server, "cpu", since, end]))
                print(f"  {label:<5} {took * 1000:7.1f} ms  ({points} points)")
            grid = best(
                lambda: store.query(
                    "SELECT server, sum(ok) / nullif(sum(ok + fail), 0) FROM rollup_day "
                    f"WHERE day >= TIMESTAMPTZ '{(end - timedelta(days=30)).isoformat()}' "
                    "AND check_name = 'server_online' GROUP BY server"
                ),
                repeat=3,
            )
            print(f"  fleet 30-day availability from rollup_day: {grid * 1000:.0f} ms")
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
