"""How long the daemon takes to publish live updates while one attached console reads nothing.

Run: .venv/bin/python bench/bench_stuck_client.py [--batches 500] [--rows 20]

A client subscribes to updates and never reads (its socket buffer is 4 KiB); a healthy console
is attached beside it. The figure is the wall time of publishing `--batches` batches of `--rows`
2 KB rows, then how long the healthy console takes to get its first batch. Target: the
publishing never waits on the stuck client (a few seconds at most for 500 batches on a loaded
laptop); tests/test_remote.py checks the behaviour (bounded queue, healthy client served).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import socket
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from console.daemon.api import ApiServer
from console.daemon.remote import RemoteSource
from console.daemon.wire import Header, frame, raw
from console.fleetview import ServerRow
from tests.memsource import MemorySource

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def row(n: int) -> ServerRow:
    return ServerRow(
        server_id=f"s{n}",
        name=f"CREST-{n:04d}",
        customer_id="c",
        customer_name="Customer",
        installer_id="i",
        installer_name="Installer",
        status="up",
        last_check=NOW,
    )


async def main(batches: int, rows: int) -> None:
    source = MemorySource([row(n) for n in range(rows)], clock=lambda: NOW)
    with tempfile.TemporaryDirectory(prefix="nls-b-", dir="/tmp") as tmp:
        server = ApiServer(lambda installer: source, Path(tmp) / "db.sock", queue_limit=8)
        await server.start()
        stuck = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.connect(str(server.path))
        stuck.sendall(frame(Header(t="hello", a={"v": raw(1), "installer": raw(None)})))
        stuck.sendall(frame(Header(t="call", id=1, m="updates")))
        try:
            async with RemoteSource(server.path) as healthy:
                stream = healthy.updates()
                first = asyncio.ensure_future(anext(stream))
                await asyncio.sleep(0.2)  # both subscriptions in place (a benchmark, not a test)
                big = [dataclasses.replace(row(n), note="x" * 2000) for n in range(rows)]
                started = time.perf_counter()
                for _ in range(batches):
                    source.push(big)
                    await asyncio.sleep(0)
                published = time.perf_counter() - started
                await first
                served = time.perf_counter() - started
                await stream.aclose()
        finally:
            stuck.close()
            await server.close()
    print(f"publish {batches} batches x {rows} rows of 2 KB with a stuck client: {published:.3f} s")
    print(f"healthy console's first batch after: {served:.3f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=500)
    parser.add_argument("--rows", type=int, default=20)
    options = parser.parse_args()
    asyncio.run(main(options.batches, options.rows))
