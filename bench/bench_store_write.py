"""The store's per-slot batch write at 10,000 servers x 30 cameras, as the daemon makes it.

Run: .venv/bin/python bench/bench_store_write.py [--servers 10000] [--cameras 30]
         [--per-batch 500] [--batches 60] [--interval 200] [--profile FILE] [--keep DIR]

A real DuckDB file and the daemon's calls: `StoreWorker.call(Store.write_cycle, ...)` with the
samples of one slot (`--per-batch` servers, 34 samples each: server_online, 30 cameras,
video_rights, cpu, disk_activity; mostly ok, a few fail or unknown, details as the checks
write them), the cameras first seen, and the alert states and mails `AlertPipeline` decides.
Consecutive slots take consecutive servers, `--interval` seconds per fleet round, so after one
round every server has history and the derived tables (current_state, state_changes,
alert_state, rollups) are at their steady size.

Per batch it prints the write's wall time, the process CPU it took (all threads: the store
thread's Python and DuckDB's workers), the store thread's own CPU, the step timings
`write_cycle` returns (`arrow` is the Python encoding, which holds the GIL), and the event
loop's worst stall during the write (a 5 ms heartbeat on the loop: what the probing loop would
have suffered). At the end: medians over the steady-state batches, bytes per stored sample
(file and WAL after a CHECKPOINT, the `nls stats` figure) and the load average.
--compact rewrites every hour at the end, as the daemon does nightly with yesterday's, and
prints sample_rows' bytes per sample before and after.
Target (issue 13 follow-up): a 500-server slot batch under 1 s wall.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from console.config import load_config
from console.monitor.pipeline import AlertPipeline
from console.monitor.sample import Sample
from console.simconfig import fleet_config
from console.store.database import Store, store_options
from console.store.stats import file_sizes
from console.store.worker import StoreWorker
from probes.simulator.fleet import loopback_address, make_cameras


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def servers(n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        address = loopback_address("127.1.0.1", i)
        out.append(
            {
                "id": f"crest-{i + 1:05d}",
                "name": f"CREST-{i + 1:05d}",
                "address": address,
                "api_url": f"http://{address}:8080",
            }
        )
    return out


class Fleet:
    """Samples of one slot, in the checks' words (console/monitor/checks.py)."""

    def __init__(self, ids: list[str], cameras: int, seed: int = 7) -> None:
        self.ids = ids
        self.rng = random.Random(seed)
        self.cameras = {s: [(c.id, c.name) for c in make_cameras(s, cameras)] for s in ids}
        self.seen: set[str] = set()

    def slot(self, ts: datetime, ids: list[str]) -> tuple[list[Sample], list[tuple[str, str, str]]]:
        rng = self.rng
        out: list[Sample] = []
        new: list[tuple[str, str, str]] = []
        for server in ids:
            cams = self.cameras[server]
            down = rng.random() < 0.003
            if down:
                out.append(
                    Sample(
                        ts,
                        server,
                        "server_online",
                        "",
                        "fail",
                        0.0,
                        "server offline: nothing answers (Eocortex: cannot connect: timed out)",
                    )
                )
                out += [
                    Sample(
                        ts,
                        server,
                        "camera",
                        cam,
                        "unknown",
                        None,
                        f"{name}: not checked (server down)",
                        name,
                    )
                    for cam, name in sorted(cams, key=lambda c: (c[1], c[0]))
                ]
                out.append(
                    Sample(
                        ts,
                        server,
                        "video_rights",
                        "",
                        "unknown",
                        None,
                        "not checked: Eocortex did not answer",
                    )
                )
                why = "not checked: host metrics unavailable (cannot connect: timed out)"
                out.append(Sample(ts, server, "cpu", "", "unknown", None, why))
                out.append(Sample(ts, server, "disk_activity", "", "unknown", None, why))
                continue
            latency = rng.uniform(2, 40)
            out.append(
                Sample(
                    ts,
                    server,
                    "server_online",
                    "",
                    "ok",
                    1.0,
                    f"online; Eocortex 4.1.23 answered in {latency:.0f} ms",
                    "",
                    latency,
                )
            )
            if server not in self.seen:
                self.seen.add(server)
                new += [(server, cam, name) for cam, name in cams]
            for cam, name in cams:
                r = rng.random()
                if r < 0.004:
                    state, value, detail = "fail", 0.0, f"{name}: camera offline (NoConnection)"
                elif r < 0.006:
                    state, value, detail = "fail", 1.0, f"{name}: online but not recording"
                else:
                    state, value, detail = "ok", 1.0, f"{name}: online, recording"
                out.append(Sample(ts, server, "camera", cam, state, value, detail, name))  # type: ignore[arg-type]
            out.append(
                Sample(
                    ts,
                    server,
                    "video_rights",
                    "",
                    "ok",
                    None,
                    "the nls user cannot view live or recorded video",
                )
            )
            cpu = rng.uniform(5, 60)
            out.append(Sample(ts, server, "cpu", "", "ok", cpu, f"CPU at {cpu:.1f}% over 5 s"))
            rate = rng.uniform(2e6, 9e6)
            if rng.random() < 0.001:
                rate = 0.0
                out.append(
                    Sample(
                        ts,
                        server,
                        "disk_activity",
                        "",
                        "fail",
                        rate,
                        "no disk activity: 0 B/s written while cameras are set to record; "
                        "recording has stopped",
                    )
                )
            else:
                out.append(
                    Sample(
                        ts,
                        server,
                        "disk_activity",
                        "",
                        "ok",
                        rate,
                        f"disk writing {rate / 1e6:.1f} MB/s over 5 s",
                    )
                )
        return out, new


class Heartbeat:
    """A 5 ms tick on the event loop; the worst lateness while a write runs is the stall the
    probing loop would suffer (the store thread holding the GIL)."""

    def __init__(self) -> None:
        self.worst = 0.0
        self.late = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        tick = 0.005
        while True:
            t0 = time.perf_counter()
            await asyncio.sleep(tick)
            lag = time.perf_counter() - t0 - tick
            self.worst = max(self.worst, lag)
            self.late += max(0.0, lag)

    def reset(self) -> None:
        self.worst = self.late = 0.0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        if self._task:
            self._task.cancel()


def raw_bytes(store: Store) -> float:
    """sample_rows' blocks over its rows."""
    blocks, rows = store.con.execute(
        "SELECT (SELECT count(DISTINCT block_id) FROM pragma_storage_info('sample_rows') "
        "WHERE block_id >= 0), (SELECT count(*) FROM sample_rows)"
    ).fetchone()
    return blocks * 262144 / max(1, rows)


def timed_write(
    store: Store,
    profile: cProfile.Profile | None,
    *args: Any,
) -> tuple[dict[str, float], float]:
    """write_cycle on the store thread, with that thread's own CPU time."""
    t0 = time.thread_time()
    if profile is not None:
        timings = profile.runcall(Store.write_cycle, store, *args)
    else:
        timings = Store.write_cycle(store, *args)
    return timings, time.thread_time() - t0


async def run(args: argparse.Namespace, folder: Path) -> None:
    password = folder / "password"
    password.write_text("x")
    fleet_servers = servers(args.servers)
    text = fleet_config(
        fleet_servers,
        password_file=password,
        database=folder / "store.duckdb",
        interval=f"{args.interval}s",
        installers=6,
        customers=400,
    )
    (folder / "nls.toml").write_text(text)
    t0 = time.perf_counter()
    config = load_config(folder / "nls.toml")
    ids = [s.id for s in config.servers]
    fleet = Fleet(ids, args.cameras)
    print(
        f"fleet: {len(ids):,} servers x {args.cameras} cameras, config and cameras built in "
        f"{time.perf_counter() - t0:.1f} s; {args.per_batch} servers per batch, "
        f"{len(ids) // args.per_batch} batches per {args.interval} s round"
    )
    alerts = AlertPipeline(config)
    profile = cProfile.Profile() if args.profile else None
    beat = Heartbeat()
    rows: list[dict[str, float]] = []
    options = store_options(config)
    if args.checkpoint_threshold:
        options["settings"]["checkpoint_threshold"] = args.checkpoint_threshold
    async with StoreWorker(config.database_path, options=options) as worker:
        await worker.call(Store.sync_inventory, config)
        cycle = await worker.call(Store.next_cycle_id)
        start = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
        per_round = max(1, len(ids) // args.per_batch)
        step = timedelta(seconds=args.interval / per_round)
        beat.start()
        total = 0
        print(
            "batch  samples  wall_ms  cpu_ms  thread_ms  arrow_ms  append_ms  fold_ms  "
            "loop_stall_ms(worst/sum)"
        )
        for n in range(args.batches):
            k = n % per_round
            chunk = ids[k * args.per_batch : (k + 1) * args.per_batch]
            ts = start + n * step
            samples, new = fleet.slot(ts, chunk)
            outcome = alerts.process(cycle, samples)
            # Let the heartbeat see the loop blocked by the sample building above (the bench's
            # own work, not the write's) before counting.
            await asyncio.sleep(0.02)
            beat.reset()
            wall0, cpu0 = time.perf_counter(), cpu_seconds()
            timings, thread = await worker.call(
                timed_write,
                profile,
                cycle,
                ts,
                ts + timedelta(seconds=1),
                samples,
                new,
                outcome.result.states,
                outcome.notifications,
            )
            wall, cpu = time.perf_counter() - wall0, cpu_seconds() - cpu0
            alerts.commit(outcome)
            cycle += 1
            total += len(samples)
            row = {
                "wall": wall,
                "cpu": cpu,
                "thread": thread,
                "arrow": timings["arrow"],
                "append": timings["append"],
                "fold": timings["fold_commit"],
                "worst": beat.worst,
                "late": beat.late,
            }
            rows.append(row)
            print(
                f"{n + 1:5d}  {len(samples):7d}  {wall * 1e3:7.0f}  {cpu * 1e3:6.0f}  "
                f"{thread * 1e3:9.0f}  {row['arrow'] * 1e3:8.0f}  {row['append'] * 1e3:9.0f}  "
                f"{row['fold'] * 1e3:7.0f}  {beat.worst * 1e3:6.0f} / {beat.late * 1e3:.0f}",
                flush=True,
            )
        beat.stop()
        await worker.call(lambda s: s.con.execute("CHECKPOINT"))
        if args.compact:
            before = await worker.call(raw_bytes)
            hours = await worker.call(
                Store.scalar,
                "SELECT list(DISTINCT date_trunc('hour', ts) ORDER BY 1) FROM sample_rows",
            )
            t0 = time.perf_counter()
            for hour in hours:
                await worker.call(Store.compact_hour, hour)
            took = time.perf_counter() - t0
            await worker.call(lambda s: s.con.execute("CHECKPOINT"))
            after = await worker.call(raw_bytes)
            print(
                f"compacted {len(hours)} hours in {took:.1f} s ({took / len(hours):.2f} s per "
                f"hour): sample_rows {before:.2f} -> {after:.2f} bytes/sample (blocks)"
            )
        size = file_sizes(config.database_path)
        counts = await worker.call(
            Store.scalar,
            "SELECT [(SELECT count(*) FROM sample_rows), (SELECT count(*) FROM state_changes), "
            "(SELECT count(*) FROM rollup_hour)]",
        )
        per_table = await worker.call(
            lambda s: s.con.execute(
                "SELECT table_name, count(DISTINCT block_id) FROM ("
                "SELECT 'sample_rows' AS table_name, block_id FROM pragma_storage_info("
                "'sample_rows') WHERE block_id >= 0) GROUP BY ALL"
            ).fetchall()
        )
    steady = rows[per_round:] or rows
    first = rows[:per_round]

    def med(key: str, part: list[dict[str, float]]) -> float:
        return statistics.median(r[key] for r in part) * 1e3

    for label, part in (("first round (new series)", first), ("steady state", steady)):
        if not part:
            continue
        print(
            f"{label:<26} median of {len(part)}: wall {med('wall', part):.0f} ms, process CPU "
            f"{med('cpu', part):.0f} ms, store thread CPU {med('thread', part):.0f} ms, "
            f"encode (Python) {med('arrow', part):.0f} ms, loop stall worst "
            f"{med('worst', part):.0f} ms; max wall {max(r['wall'] for r in part) * 1e3:.0f} ms"
        )
    blocks = per_table[0][1] if per_table else 0
    print(
        f"stored {counts[0]:,} samples ({counts[1]:,} state_changes, {counts[2]:,} rollup_hour "
        f"rows); file + WAL {size / 1e6:.1f} MB = {size / max(1, counts[0]):.2f} bytes/sample "
        f"(nls stats); sample_rows ~{blocks * 262144 / max(1, counts[0]):.2f} bytes/sample "
        f"({blocks} blocks)"
    )
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} CPUs)")
    if profile is not None:
        profile.dump_stats(args.profile)
        print(f"profile of the store thread's write_cycle: {args.profile}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--servers", type=int, default=10_000)
    parser.add_argument("--cameras", type=int, default=30)
    parser.add_argument("--per-batch", type=int, default=500)
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--interval", type=int, default=200, help="seconds per fleet round")
    parser.add_argument("--profile", help="write a cProfile of write_cycle to this file")
    parser.add_argument(
        "--compact",
        action="store_true",
        help="at the end, rewrite every hour as the daemon does nightly (Store.compact_hour)",
    )
    parser.add_argument(
        "--checkpoint-threshold", help="[database] checkpoint_threshold, e.g. 64MB (DuckDB: 16MB)"
    )
    parser.add_argument("--keep", help="keep the database in this folder")
    args = parser.parse_args()
    folder = Path(args.keep or tempfile.mkdtemp(prefix="nls-bench-store-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        asyncio.run(run(args, folder))
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
