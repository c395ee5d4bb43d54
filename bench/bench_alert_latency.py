"""Alert latency and daemon cost, measured on a real `nls --daemon` process.

1. Latency: from the completion of the Nth failed check (the probe's start time plus its latency,
   as stored in `samples`) to the SMTP server accepting the mail. Several servers fail at once,
   so the figure includes mails waiting behind each other. Target: under 2 s.
2. Cost: the daemon's CPU seconds (from /proc) and peak resident memory (VmHWM) per cycle at
   1,000 servers, every server in every cycle.

The simulator runs in its own process (`nls simulate`), the SMTP server (aiosmtpd) in this one.
Usage: .venv/bin/python bench/bench_alert_latency.py [--servers 1000] [--cycles 3]
                                                     [--incidents 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from console.daemon.remote import RemoteSource  # noqa: E402
from probes.simulator.control import send_control  # noqa: E402
from tests.smtp import Inbox, SmtpServer  # noqa: E402

NLS = [sys.executable, "-m", "console.cli"]
TICKS = os.sysconf("SC_CLK_TCK")


class TimedInbox(Inbox):
    """Keeps the wall-clock time at which each message was accepted."""

    def __init__(self) -> None:
        super().__init__()
        self.accepted: list[float] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        self.accepted.append(time.time())
        return answer


class Process:
    """A child whose stderr lines we follow."""

    def __init__(self, *args: str) -> None:
        self.args = args
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> Process:
        self.proc = await asyncio.create_subprocess_exec(
            *NLS,
            *self.args,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={k: v for k, v in os.environ.items() if k != "NLS_CONFIG"},
        )
        return self

    async def line(self, needle: str, limit: float = 120.0) -> str:
        assert self.proc is not None and self.proc.stderr is not None
        async with asyncio.timeout(limit):
            while True:
                raw = await self.proc.stderr.readline()
                if not raw:
                    raise RuntimeError(f"{self.args[:3]} exited before {needle!r}")
                text = raw.decode().strip()
                if needle in text:
                    return text

    async def stop(self) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(120):
            if self.proc.stderr is not None:
                await self.proc.stderr.read()
            return await self.proc.wait()

    def cpu_seconds(self) -> float:
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS

    def peak_rss_mb(self) -> float:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0


def field(line: str, name: str) -> str:
    for part in line.split():
        if part.startswith(name + "="):
            return part.split("=", 1)[1]
    return ""


async def simulate(folder: Path, servers: int, interval: str, smtp_port: int, port: int) -> Any:
    config = folder / "bench.toml"
    sim = Process(
        "simulate",
        "--servers",
        str(servers),
        "--cameras",
        "16",
        "--write-config",
        str(config),
        "--interval",
        interval,
        "--http-port",
        "0",
        "--control-port",
        str(port),
        "--base",
        "127.90.0.1",
    )
    await sim.start()
    await sim.line("ready")
    text = config.read_text()
    smtp = f'[smtp]\nhost = "127.0.0.1"\nport = {smtp_port}\n\n'
    config.write_text(text.replace("[[installers]]", smtp + "[[installers]]", 1))
    return sim, config


async def latency(folder: Path, incidents: int) -> None:
    smtp = SmtpServer()
    smtp.inbox = TimedInbox()
    await smtp.start()
    sim, config = await simulate(folder, 20, "2s", smtp.port, 7991)
    daemon = await Process("--config", str(config), "--daemon").start()
    try:
        await daemon.line("event=ready")
        await daemon.line("event=cycle")
        servers = [f"crest-{n + 1:04d}" for n in range(incidents)]
        for server in servers:
            await send_control(7991, {"server": server, "fault": "camera_offline", "camera": 0})
        async with asyncio.timeout(60):
            while len(smtp.inbox.messages) < len(servers):
                smtp.inbox._changed.clear()
                await smtp.inbox._changed.wait()
        database = config.with_suffix(".duckdb")
        async with RemoteSource(database.with_name(database.name + ".sock")) as remote:
            table = await remote.sql(
                "SELECT a.server, epoch(a.alerted_at) + coalesce(s.latency_ms, 0) / 1000 AS done "
                "FROM alert_state a JOIN samples s ON s.server = a.server AND "
                "s.check_name = a.check_name AND s.subject = a.subject AND s.ts = a.alerted_at "
                "WHERE a.alerted_at IS NOT NULL"
            )
        done = {r["server"]: r["done"] for r in table.to_pylist()}
        waits = []
        for message, accepted in zip(smtp.inbox.messages, smtp.inbox.accepted, strict=True):
            text = message.raw.decode(errors="replace").lower()
            server = next(s for s in servers if s in text)
            waits.append(accepted - done[server])
        print(
            f"alert latency ({len(waits)} mails, {incidents} servers failing in the same cycle): "
            f"median {statistics.median(waits) * 1000:.0f} ms, max {max(waits) * 1000:.0f} ms "
            f"(target < 2000 ms)"
        )
    finally:
        await daemon.stop()
        await sim.stop()
        await smtp.stop()


async def cost(folder: Path, servers: int, cycles: int) -> None:
    smtp = SmtpServer()
    await smtp.start()
    sim, config = await simulate(folder, servers, "10s", smtp.port, 7992)
    daemon = await Process("--config", str(config), "--daemon").start()
    try:
        await daemon.line("event=ready", limit=300)
        await daemon.line("event=cycle", limit=300)  # warm: cameras learnt, clients open
        cpu0, wall0 = daemon.cpu_seconds(), time.perf_counter()
        lines = [await daemon.line("event=cycle", limit=300) for _ in range(cycles)]
        cpu = daemon.cpu_seconds() - cpu0
        wall = time.perf_counter() - wall0
        ms = [int(field(x, "ms")) for x in lines]
        samples = [int(field(x, "samples")) for x in lines]
        print(
            f"daemon at {servers} servers ({samples[0]} samples a cycle, one cycle per 10 s): "
            f"CPU {cpu / cycles:.2f} s per cycle over {cycles} cycles ({wall:.0f} s wall), "
            f"cycle wall {statistics.median(ms)} ms median, peak RSS {daemon.peak_rss_mb():.0f} MB"
        )
    finally:
        code = await daemon.stop()
        print(f"daemon exit status after SIGTERM: {code}")
        await sim.stop()
        await smtp.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=1000)
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--incidents", type=int, default=5)
    args = parser.parse_args()
    print(f"{datetime.now():%Y-%m-%d %H:%M}, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="nls-bench-", dir="/tmp") as tmp:
        first, second = Path(tmp) / "latency", Path(tmp) / "cost"
        first.mkdir()
        second.mkdir()
        await latency(first, args.incidents)
        await cost(second, args.servers, args.cycles)


if __name__ == "__main__":
    asyncio.run(main())
