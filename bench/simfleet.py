"""A simulated fleet in its own process for the benchmarks: prints `ready` once it listens.

Usage: python bench/simfleet.py --servers 1000 --cameras 30 --config /tmp/b.toml [--realtime]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from pathlib import Path

from console.simconfig import write_sim_config
from probes.simulator.fleet import build_fleet
from probes.simulator.hosts import add_host_protocols


async def serve(args: argparse.Namespace) -> None:
    fleet = build_fleet(args.servers, cameras=args.cameras, base=args.base)
    key = add_host_protocols(fleet, realtime=args.realtime) if args.hosts else None
    await fleet.start()
    write_sim_config(Path(args.config), fleet, host_key=key, customers=40, installers=6)
    print("ready", file=sys.stderr, flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await fleet.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--servers", type=int, default=1000)
    parser.add_argument("--cameras", type=int, default=30)
    parser.add_argument("--base", default="127.90.0.1")
    parser.add_argument("--config", required=True)
    parser.add_argument("--no-hosts", dest="hosts", action="store_false")
    parser.add_argument("--realtime", action="store_true", help="SSH waits the sample window")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
