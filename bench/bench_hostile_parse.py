"""One hostile Eocortex server must not delay the probes of the others (issue 9, item 7).

Run: .venv/bin/python bench/bench_hostile_parse.py [--servers 200]

A fleet of healthy servers plus one that answers every request with a 16 MB body of 16 XML
document starts, each of which parses to the end of the body before it fails. One cycle over
all of them is timed three ways: healthy fleet only; with the hostile server, large bodies
parsed in the worker process (what nls does); with the hostile server, parsed on the event loop
(the old behaviour). Printed: the
longest event-loop stall during the cycle and the healthy servers' Eocortex latency (median,
max): with the offload, neither moves.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import probes.eocortex as eocortex
from console.config import load_config
from console.monitor.engine import Engine
from console.simconfig import write_sim_config
from console.store.database import store_options
from console.store.worker import StoreWorker
from probes.simulator.fleet import build_fleet

HOSTILE = (b"<a>" + b"x" * (1024 * 1024 - 8)) * 16
"""16 unclosed elements of 1 MB text: every document start parses to the end of the body."""


async def cycle(config_path: Path, offload: bool) -> tuple[float, list[float], str]:
    config = load_config(config_path)
    eocortex.OFFLOAD_BYTES = 256 * 1024 if offload else 1 << 40
    worker = StoreWorker(config.database_path, options=store_options(config))
    async with worker as store, Engine(config, store) as engine:
        t0 = time.monotonic()
        probed = await engine.probe()
        stall = engine.watch.stalled(t0)
    latencies = [
        s.latency_ms or 0.0
        for s in probed.samples
        if s.check == "server_online" and s.state == "ok"
    ]
    hostile = next(
        s.detail for s in probed.samples if s.server == "crest-0001" and s.check == "server_online"
    )
    return stall, latencies, hostile


async def main(servers: int) -> None:
    fleet = build_fleet(servers + 1, cameras=30, http_port=0, base="127.94.0.1")
    await fleet.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            rows = []
            for label, hostile, offload in (
                ("healthy fleet only", False, True),
                ("with the hostile server, parsed in the worker", True, True),
                ("with the hostile server, parsed on the loop", True, False),
            ):
                fleet.heal()
                if hostile:
                    fleet.set_fault("crest-0001", "garbage")
                    fleet.servers["crest-0001"].garbage_body = HOSTILE
                path = write_sim_config(Path(tmp) / f"h{len(rows)}.toml", fleet)
                stall, lat, detail = await cycle(path, offload)
                rows.append((label, stall, lat, detail))
    finally:
        await fleet.stop()
        eocortex.shutdown_parser_pool()
    print(f"{servers} healthy servers + 1 hostile (16 MB, 16 document starts, per answer)")
    for label, stall, lat, _ in rows:
        print(
            f"  {label:<48} loop stall {stall * 1000:6.0f} ms; healthy Eocortex latency "
            f"median {statistics.median(lat):5.1f} ms, max {max(lat):6.1f} ms "
            f"({len(lat)} ok)"
        )
    print(f"  the hostile server's verdict: {rows[1][3][:100]}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--servers", type=int, default=200)
    asyncio.run(main(parser.parse_args().servers))
