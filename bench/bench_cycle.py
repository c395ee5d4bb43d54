"""One probe cycle over a simulated fleet: wall time, CPU seconds, samples written per second.

The simulator runs in its own process (this machine has two cores: one serves, one probes).
Usage: .venv/bin/python bench/bench_cycle.py [--servers 1000] [--cameras 30] [--cycles 3]
                                             [--realtime] [--no-hosts]
Targets: Eocortex-only cycle (--no-hosts) for 1,000 x 30 under 10 s wall with its ~32,000
samples appended under 0.1 s; the full four-check cycle (--realtime: SSH answers after the real
5 s sample window) under 30 s wall.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from console.config import load_config
from console.monitor.engine import Engine
from console.store.worker import StoreWorker


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run(config_path: Path, cycles: int) -> None:
    config = load_config(config_path)
    async with StoreWorker(config.database_path) as store, Engine(config, store) as engine:
        for n in range(cycles):
            wall0, cpu0 = time.perf_counter(), cpu_seconds()
            batch = await engine.run_cycle()
            wall, cpu = time.perf_counter() - wall0, cpu_seconds() - cpu0
            samples = len(batch.samples)
            fails = sum(1 for s in batch.samples if s.state != "ok")
            t = batch.timings
            print(
                f"cycle {n + 1}: {len(config.servers)} servers, {samples} samples "
                f"({fails} not ok), "
                f"wall {wall:.2f} s, CPU {cpu:.2f} s; store: Arrow build "
                f"{t['arrow'] * 1000:.0f} ms, append {t['append'] * 1000:.0f} ms "
                f"({samples / t['append']:,.0f} samples/s), derived tables + commit "
                f"{t['fold_commit'] * 1000:.0f} ms"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--servers", type=int, default=1000)
    parser.add_argument("--cameras", type=int, default=30)
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument(
        "--realtime", action="store_true", help="simulated hosts take the 5 s sample window"
    )
    parser.add_argument(
        "--no-hosts", dest="hosts", action="store_false", help="Eocortex API only (issue 2 figure)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nls-bench-") as tmp:
        config = Path(tmp) / "bench.toml"
        command = [
            sys.executable,
            str(Path(__file__).with_name("simfleet.py")),
            "--servers",
            str(args.servers),
            "--cameras",
            str(args.cameras),
            "--config",
            str(config),
            "--base",
            "127.90.0.1",
        ]
        if args.realtime:
            command.append("--realtime")
        if not args.hosts:
            command.append("--no-hosts")
        sim = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        try:
            assert sim.stderr is not None
            for line in sim.stderr:
                if line.strip() == "ready":
                    break
            else:
                raise SystemExit(f"simulator exited with {sim.wait()}")
            asyncio.run(run(config, args.cycles))
        finally:
            sim.send_signal(signal.SIGINT)
            sim.wait(60)


if __name__ == "__main__":
    main()
