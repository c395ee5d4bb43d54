"""Figures for the SLA timer engine (issue 11's benchmark).

Run: .venv/bin/python bench/bench_sla.py [--incidents 1000] [--events 20] [--runs 10]

1. Timers of N open incidents with M events each, recomputed as the incidents screen does on
   every refresh, then sorted by each incident's most urgent timer; target under 50 ms.
   "from events": `compute_timers` reads every event again; "from kept histories": the screen
   keeps each incident's `read_history` (it changes only when an event is added) and calls
   `timers_at` with the new now. The events are built beforehand, as the incident store hands
   them over; the first pass (which builds each calendar's yearly tables and loads the
   holidays) is shown apart. Also every next_reply/periodic_update cycle (all_cycles=True,
   what monthly statistics need).
2. The incidents screen's path: `Desk.incidents` over the same N open incidents as kept in
   memory by the owning process (kept histories, each incident's most urgent timer as a
   `TimerRow` with its at-risk and urgent instants, sorted by what is due next), which the
   screen fetches every 15 s and after each change; and the screen's one-second tick between
   fetches (countdown and state text of every row from those instants, no calendar).
3. `nls sla due` as a whole process (interpreter start, imports, reading the configuration,
   holidays, the answer); target under 0.5 s. Wall and CPU seconds per run.

On a machine shared with other work, wall times stretch with the load (`uptime` is printed);
CPU times stretch much less.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from console.config import load_config  # noqa: E402
from console.sla.policy import catalog_of  # noqa: E402
from console.sla.timers import (  # noqa: E402
    Event,
    compute_timers,
    most_urgent,
    read_history,
    timers_at,
)

NOW = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)
KINDS = ["customer-message"] * 5 + ["reply"] * 5 + ["note"] * 4 + ["ack", "waiting", "resume"]


def make_incidents(
    n: int, events: int, seed: int = 11
) -> list[tuple[object, str, datetime, list[Event]]]:
    """Open incidents across every preset with timers, opened in the last 30 days, each with
    `events` events: messages, replies, notes, acks, waits and resumes, a priority change."""
    catalog = catalog_of(load_config(ROOT / "config.example.toml"))
    policies = [catalog.policy(name) for name in catalog.names if name != "visuatech"]
    rng = random.Random(seed)
    incidents = []
    for _ in range(n):
        policy = rng.choice(policies)
        priority = rng.choice(policy.priorities)
        opened = NOW - timedelta(minutes=rng.randint(60, 30 * 24 * 60))
        span = (NOW - opened).total_seconds()
        times = sorted(opened + timedelta(seconds=rng.uniform(0, span)) for _ in range(events))
        history = []
        for k, at in enumerate(times):
            if k == events // 2:
                history.append(Event(at, "priority", "ops", rng.choice(policy.priorities)))
            else:
                history.append(Event(at, rng.choice(KINDS), "ops", "text"))
        incidents.append((policy, priority, opened, history))
    return incidents


def recompute(incidents: list, all_cycles: bool = False) -> tuple[int, list]:
    timers = 0
    rows = []
    for policy, priority, opened, events in incidents:
        found = compute_timers(policy, priority, opened, events, NOW, all_cycles=all_cycles)
        timers += len(found)
        rows.append((most_urgent(found), opened))
    rows.sort(key=lambda row: row[0].due_us if row[0] else 1 << 62)
    return timers, rows


def refresh(kept: list) -> tuple[int, list]:
    timers = 0
    rows = []
    for policy, history in kept:
        found = timers_at(policy, history, NOW)
        timers += len(found)
        rows.append((most_urgent(found), history.opened))
    rows.sort(key=lambda row: row[0].due_us if row[0] else 1 << 62)
    return timers, rows


def bench_timers(n: int, events: int, runs: int) -> None:
    incidents = make_incidents(n, events)
    start = time.perf_counter()
    timers, _ = recompute(incidents)
    cold = time.perf_counter() - start
    print(f"timers: {n} open incidents x {events} events, {timers} timers per pass")
    print(f"  first pass (builds calendar tables, loads holidays): {cold * 1000:.1f} ms")
    start = time.perf_counter()
    kept = [(p, read_history(p, prio, opened, evs)) for p, prio, opened, evs in incidents]
    print(f"  reading the {n} histories once: {(time.perf_counter() - start) * 1000:.1f} ms")
    passes = {
        "from events": lambda: recompute(incidents),
        "from kept histories": lambda: refresh(kept),
        "from events, all cycles": lambda: recompute(incidents, all_cycles=True),
    }
    for label, work in passes.items():
        walls, cpus = [], []
        for _ in range(runs):
            start, cpu = time.perf_counter(), time.process_time()
            count, _ = work()
            walls.append(time.perf_counter() - start)
            cpus.append(time.process_time() - cpu)
        print(
            f"  {label}: {count} timers, wall median {statistics.median(walls) * 1000:.1f} ms "
            f"(min {min(walls) * 1000:.1f}, max {max(walls) * 1000:.1f}), cpu median "
            f"{statistics.median(cpus) * 1000:.1f} ms ({runs} runs; target < 50 ms)"
        )


def bench_screen(n: int, events: int, runs: int) -> None:
    import asyncio

    from console.desk.desk import Desk, Kept
    from console.desk.records import Incident, IncidentEvent, IncidentQuery
    from console.desk.text import countdown, live_state
    from console.directory import Directory

    config = load_config(ROOT / "config.example.toml")
    desk = Desk(config, Directory(config), None, lambda: NOW)  # type: ignore[arg-type]
    for k, (policy, priority, opened, history) in enumerate(make_incidents(n, events), start=1):
        incident = Incident(
            k, f"incident {k}", "problem", priority, priority, "open", None, "c", "i",
            policy.name, opened, opened, "ops", "manual",
        )  # fmt: skip
        kept = tuple(
            IncidentEvent(k, seq, e.at, e.at, e.author, e.kind, e.text)
            for seq, e in enumerate(history, start=1)
        )
        desk.open[k] = Kept(incident, kept, policy)
    query = IncidentQuery(open_only=True)
    rows = asyncio.run(desk.incidents(None, query, None))  # reads every history once
    walls, cpus = [], []
    for _ in range(runs):
        start, cpu = time.perf_counter(), time.process_time()
        rows = asyncio.run(desk.incidents(None, query, None))
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    print(f"incidents screen: Desk.incidents over {n} open incidents ({len(rows)} rows)")
    print(
        f"  fetch: wall median {statistics.median(walls) * 1000:.1f} ms (min "
        f"{min(walls) * 1000:.1f}, max {max(walls) * 1000:.1f}), cpu median "
        f"{statistics.median(cpus) * 1000:.1f} ms; target < 50 ms"
    )
    ticks = []
    for second in range(runs):
        now = NOW + timedelta(seconds=second)
        start = time.perf_counter()
        for row in rows:
            countdown(row.timer, now)
            live_state(row.timer, now)
        ticks.append(time.perf_counter() - start)
    print(
        f"  one-second tick (countdown and state of {len(rows)} rows): median "
        f"{statistics.median(ticks) * 1000:.2f} ms"
    )


def bench_due(runs: int) -> None:
    command = [
        str(ROOT / ".venv" / "bin" / "nls"),
        "--config",
        str(ROOT / "config.example.toml"),
        "sla",
        "due",
        "--policy",
        "navixy-onprem",
        "--priority",
        "P2",
        "--opened",
        "2025-10-31T13:00:00+01:00",
    ]
    if not Path(command[0]).exists():
        command[:1] = [sys.executable, "-m", "console.cli"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("NLS_")}
    walls, cpus = [], []
    for n in range(runs + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if result.returncode != 0:
            raise SystemExit(f"nls sla due failed: {result.stderr}")
        if n:  # the first run warms the file cache
            walls.append(wall)
            cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    print(f"nls sla due (whole process, {runs} runs): {result.stdout.splitlines()[0]}")
    print(
        f"  wall median {statistics.median(walls):.3f} s (min {min(walls):.3f}, max "
        f"{max(walls):.3f}); cpu median {statistics.median(cpus):.3f} s; target < 0.5 s"
    )


def main() -> None:
    print(
        f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores"
    )
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=1000)
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    bench_timers(args.incidents, args.events, args.runs)
    bench_screen(args.incidents, args.events, args.runs)
    bench_due(args.runs)


if __name__ == "__main__":
    main()
