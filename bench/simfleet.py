"""A simulated fleet in its own process(es) for the benchmarks: prints `ready` once it listens.

Usage: python bench/simfleet.py --servers 1000 --cameras 30 --config /tmp/b.toml [--realtime]

A fleet larger than one process's open-file limit allows (three listeners per server plus a
kept SSH connection each) is served by several shard processes, each a consecutive part of the
fleet (`--first`); `start_fleet()` starts them and writes one configuration for all.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import resource
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from console.simconfig import fleet_config
from probes.simulator.fleet import DEFAULT_PASSWORD, build_fleet
from probes.simulator.hosts import add_host_protocols, known_hosts

FILES_PER_SERVER = 5
"""HTTP, SSH and RDP listeners, the kept SSH connection and one probe connection at a time."""


def shards_needed(servers: int, hosts: bool = True) -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    per = FILES_PER_SERVER if hosts else 2
    return max(1, math.ceil(servers * per / (0.8 * soft)))


async def serve(args: argparse.Namespace) -> None:
    fleet = build_fleet(args.servers, cameras=args.cameras, base=args.base, first=args.first)
    key = add_host_protocols(fleet, realtime=args.realtime) if args.hosts else None
    await fleet.start()
    out = Path(args.describe)
    hosts = known_hosts(fleet, key) if key else ""
    out.write_text(json.dumps({"servers": fleet.describe(), "known_hosts": hosts}))  # noqa: ASYNC240
    print("ready", file=sys.stderr, flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await fleet.stop()


class Fleet:
    """Shard processes serving one fleet; `stop()` ends them."""

    def __init__(
        self,
        procs: list[subprocess.Popen[str]],
        config: Path,
        servers: list[dict[str, Any]] | None = None,
        known_hosts: Path | None = None,
    ) -> None:
        self.procs = procs
        self.config = config
        self.servers = servers or []
        self.known_hosts = known_hosts

    def write_config(
        self,
        path: Path,
        *,
        ssh: bool = True,
        rdp: bool = True,
        interval: str = "15m",
        extra: str = "",
    ) -> Path:
        """Another configuration for the same fleet (e.g. Eocortex only), its own database."""
        password = path.with_suffix(".password")
        password.write_text(DEFAULT_PASSWORD)
        password.chmod(0o600)
        if not rdp:
            extra = "[rdp]\nenabled = false\n\n" + extra
        path.write_text(
            fleet_config(
                self.servers,
                password_file=password,
                database=path.with_suffix(".duckdb"),
                interval=interval,
                installers=6,
                customers=40,
                ssh_user="nls" if ssh and self.known_hosts else None,
                known_hosts=self.known_hosts if ssh else None,
                extra=extra,
            )
        )
        return path

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in self.procs:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()


def start_fleet(
    servers: int,
    folder: Path,
    *,
    cameras: int = 30,
    base: str = "127.90.0.1",
    hosts: bool = True,
    realtime: bool = False,
    interval: str = "15m",
    extra: str = "",
    shards: int | None = None,
) -> Fleet:
    """Start the shards, wait until each listens, and write folder/bench.toml for the fleet."""
    count = shards or shards_needed(servers, hosts)
    size = math.ceil(servers / count)
    procs: list[subprocess.Popen[str]] = []
    parts: list[dict[str, Any]] = []
    try:
        for n in range(count):
            first = n * size
            todo = min(size, servers - first)
            if todo <= 0:
                break
            describe = folder / f"shard-{n}.json"
            command = [
                sys.executable,
                __file__,
                "--servers",
                str(todo),
                "--first",
                str(first),
                "--cameras",
                str(cameras),
                "--base",
                base,
                "--describe",
                str(describe),
            ]
            if realtime:
                command.append("--realtime")
            if not hosts:
                command.append("--no-hosts")
            procs.append(
                subprocess.Popen(
                    command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
                )
            )
            parts.append({"describe": describe})
        for proc in procs:
            assert proc.stderr is not None
            for line in proc.stderr:
                if line.strip() == "ready":
                    break
            else:
                raise SystemExit(f"simulator shard exited with {proc.wait()}")
    except BaseException:
        Fleet(procs, folder).stop()
        raise
    described = [json.loads(Path(p["describe"]).read_text()) for p in parts]
    every = [s for d in described for s in d["servers"]]
    password = folder / "bench.password"
    password.write_text(DEFAULT_PASSWORD)
    password.chmod(0o600)
    known = None
    if hosts:
        known = folder / "bench.known_hosts"
        known.write_text("".join(d["known_hosts"] for d in described))
    config = folder / "bench.toml"
    config.write_text(
        fleet_config(
            every,
            password_file=password,
            database=folder / "bench.duckdb",
            interval=interval,
            installers=6,
            customers=40,
            ssh_user="nls" if hosts else None,
            known_hosts=known,
            extra=extra,
        )
    )
    return Fleet(procs, config, every, known)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--servers", type=int, default=1000)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--cameras", type=int, default=30)
    parser.add_argument("--base", default="127.90.0.1")
    parser.add_argument("--config", help="write a configuration for this one process's fleet")
    parser.add_argument("--describe", help="write the fleet's servers and known_hosts as JSON")
    parser.add_argument("--no-hosts", dest="hosts", action="store_false")
    parser.add_argument("--realtime", action="store_true", help="SSH waits the sample window")
    args = parser.parse_args()
    if args.config:
        folder = Path(args.config).parent
        args.describe = args.describe or str(folder / "shard.json")

        async def single() -> None:
            from console.simconfig import write_sim_config

            fleet = build_fleet(args.servers, cameras=args.cameras, base=args.base)
            key = add_host_protocols(fleet, realtime=args.realtime) if args.hosts else None
            await fleet.start()
            write_sim_config(Path(args.config), fleet, host_key=key, customers=40, installers=6)
            print("ready", file=sys.stderr, flush=True)
            try:
                await asyncio.Event().wait()
            finally:
                await fleet.stop()

        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(single())
        return
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args))


if __name__ == "__main__":
    main()
