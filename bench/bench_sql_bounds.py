"""What a hostile or careless SQL client costs a real `nls --daemon`, with the default [sql] limits.

1. `SELECT * FROM range(200000000)` through `nls sql --format csv`: wall time until the client has
   its (cut) result, rows received, and the daemon's peak resident memory (VmHWM).
2. A statement that would run for hours, whose client closes its socket: time from the close to
   the daemon's `event=query_stopped` line.
3. SIGTERM while three such statements run: time until the daemon has exited.

Usage: .venv/bin/python bench/bench_sql_bounds.py
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from console.daemon.wire import VERSION  # noqa: E402
from console.simconfig import write_sim_config  # noqa: E402
from probes.simulator.fleet import build_fleet  # noqa: E402

NLS = [sys.executable, "-m", "console.cli"]
LONG = "SELECT sum(range) FROM range(10000000000000)"


def frame(header: str) -> bytes:
    body = header.encode()
    return struct.pack(">II", len(body), 0) + body


def vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Daemon:
    def __init__(self, config: Path) -> None:
        self.config = config
        self.lines: list[str] = []

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *NLS, "--config", str(self.config), "--daemon",
            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        self.socket = (await self.line("event=ready")).split("socket=")[1].split()[0]

    async def line(self, needle: str) -> str:
        assert self.proc.stderr is not None
        while True:
            raw = await asyncio.wait_for(self.proc.stderr.readline(), 120)
            if not raw:
                raise RuntimeError("daemon ended:\n" + "\n".join(self.lines[-20:]))
            text = raw.decode().rstrip()
            self.lines.append(text)
            if needle in text:
                return text

    def client(self) -> socket.socket:
        s = socket.socket(socket.AF_UNIX)
        s.connect(self.socket)
        s.sendall(frame(f'{{"t":"hello","a":{{"v":{VERSION}}}}}'))
        s.recv(4096)
        return s


async def main() -> None:
    fleet = build_fleet(4, cameras=4, http_port=0, base="127.84.0.1")
    await fleet.start()
    try:
        with tempfile.TemporaryDirectory(prefix="nls-b-", dir="/tmp") as tmp:
            config = write_sim_config(Path(tmp) / "b.toml", fleet, interval="1h")
            daemon = Daemon(config)
            await daemon.start()
            await daemon.line("event=cycle")

            started = time.perf_counter()
            proc = await asyncio.create_subprocess_exec(
                *NLS, "--config", str(config), "sql", "SELECT * FROM range(200000000)",
                "--format", "csv", cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )  # fmt: skip
            out, err = await proc.communicate()
            elapsed = time.perf_counter() - started
            rows = len(out.splitlines()) - 1
            print(
                f"range(2e8): {rows:,} rows in {elapsed:.2f} s, daemon peak "
                f"{vm_hwm_mb(daemon.proc.pid):.0f} MB; client said: {err.decode().strip()}"
            )

            client = daemon.client()
            client.sendall(frame(f'{{"t":"call","id":1,"m":"sql","a":{{"query":"{LONG}"}}}}'))
            await daemon.line("event=query_started")
            closed = time.perf_counter()
            client.close()
            await daemon.line("event=query_stopped")
            print(
                f"client gone -> statement stopped: {1000 * (time.perf_counter() - closed):.0f} ms"
            )

            clients = []
            for n in range(3):
                c = daemon.client()
                c.sendall(frame(f'{{"t":"call","id":{n},"m":"sql","a":{{"query":"{LONG}"}}}}'))
                await daemon.line("event=query_started")
                clients.append(c)
            sent = time.perf_counter()
            daemon.proc.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(daemon.proc.wait(), 120)
            print(f"SIGTERM with 3 running statements -> exit {code} in "
                  f"{1000 * (time.perf_counter() - sent):.0f} ms")  # fmt: skip
            for c in clients:
                c.close()
    finally:
        await fleet.stop()


if __name__ == "__main__":
    os.environ.pop("NLS_SOCKET", None)
    asyncio.run(main())
