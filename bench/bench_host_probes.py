"""Cost of the host probes: SSH metrics and RDP handshake, per host and over a 1,000-host fleet.

Run: .venv/bin/python bench/bench_host_probes.py [--hosts 1000] [--concurrency 200]
Needs /usr/sbin/sshd and /usr/sbin/xrdp for the per-host figures (skipped if missing). The fleet
pass runs the simulator in a child process so the two share the machine's 2 cores as they would
if the fleet were real; CPU seconds are reported for each side.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from probes.rdp import probe_rdp  # noqa: E402
from probes.ssh import SshPool, SshTarget, connect, probe_host  # noqa: E402

WINDOW_S = 0.1


def cpu_s(pid: int | None = None) -> float:
    """User + system CPU seconds of this process or of `pid` (from /proc)."""
    if pid is None:
        t = os.times()
        return t.user + t.system
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


async def timed(label: str, n: int, make) -> None:
    c0, w0 = cpu_s(), time.perf_counter()
    for _ in range(n):
        await make()
    wall = (time.perf_counter() - w0) * 1000 / n
    cpu = (cpu_s() - c0) * 1000 / n
    print(f"  {label:<46} wall {wall:7.2f} ms   client CPU {cpu:6.2f} ms   (n={n})")


async def bench_real(n: int) -> None:
    from tests.realservers import SSHD, XRDP, running_sshd, running_xrdp

    with tempfile.TemporaryDirectory() as tmp:
        if os.access(SSHD, os.X_OK):
            (Path(tmp) / "sshd").mkdir()
            with running_sshd(SSHD, Path(tmp) / "sshd") as sshd:
                t = SshTarget(
                    sshd.host,
                    sshd.port,
                    sshd.username,
                    client_keys=(sshd.client_key,),
                    known_hosts=sshd.known_hosts,
                )
                print(f"real sshd (OpenSSH, ed25519 key auth), metrics window {WINDOW_S} s:")

                async def handshake() -> None:
                    conn, _, _ = await connect(t)
                    conn.close()
                    await conn.wait_closed()

                async def fresh() -> None:
                    r = await probe_host(t, "linux", WINDOW_S, samples=1)
                    assert r.ok, r.error

                pool = SshPool()

                async def pooled() -> None:
                    r = await pool.probe(t, "linux", WINDOW_S, samples=1)
                    assert r.ok, r.error

                await fresh()
                await timed("connect + auth only", n, handshake)
                await timed("fresh connection: connect + auth + command", n, fresh)
                await pooled()
                await timed("pooled connection: command only", n, pooled)
                await pool.close()
        else:
            print("sshd not installed: skipped")
        if os.access(XRDP, os.X_OK):
            (Path(tmp) / "xrdp").mkdir()
            with running_xrdp(XRDP, Path(tmp) / "xrdp") as xrdp:
                print("real xrdp:")

                async def rdp() -> None:
                    r = await probe_rdp(xrdp.host, xrdp.port, 5.0)
                    assert r.alive, r

                await timed("X.224 CR -> CC", n, rdp)
        else:
            print("xrdp not installed: skipped")


def serve_fleet(n: int, base: str) -> None:
    """Child process: run an n-server simulated fleet until stdin closes."""
    from probes.simulator.fleet import build_fleet
    from probes.simulator.hosts import add_host_protocols

    async def main() -> None:
        fleet = build_fleet(n, cameras=4, base=base)
        key = add_host_protocols(fleet)
        t0 = time.perf_counter()
        async with fleet:
            hosts = [
                [s.address, s.ssh_port, s.rdp_port, s.platform] for s in fleet.servers.values()
            ]
            ready = {
                "hosts": hosts,
                "login": fleet.login,
                "password": fleet.password,
                "host_key": key,
                "start_s": time.perf_counter() - t0,
                "rss_mb": rss_mb(),
            }
            print(json.dumps(ready), flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

    asyncio.run(main())


async def bench_fleet(n: int, concurrency: int, window_s: float, base: str, pool: bool) -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--serve-fleet",
        str(n),
        "--base",
        base,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=2**24,
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        line = await child.stdout.readline()
        if not line:
            raise SystemExit("simulator child exited before it was ready")
        ready = json.loads(line)
        print(
            f"simulated fleet: {n} servers up in {ready['start_s']:.1f} s, "
            f"simulator RSS {ready['rss_mb']:.0f} MiB"
        )
        sem = asyncio.Semaphore(concurrency)
        ssh_pool = SshPool(keepalive_interval=30) if pool else None

        async def one(address: str, ssh_port: int, rdp_port: int, platform: str):
            target = SshTarget(
                address,
                ssh_port,
                ready["login"],
                password=ready["password"],
                pinned_key=ready["host_key"],
                connect_timeout=10,
                auth_timeout=20,
            )
            async with sem:
                ssh = (
                    ssh_pool.probe(target, platform, window_s)
                    if ssh_pool is not None
                    else probe_host(target, platform, window_s)
                )
                return await asyncio.gather(ssh, probe_rdp(address, rdp_port, 10.0))

        labels = ("pooled, connecting", "pooled, kept open") if pool else ("fresh connections",)
        for label in labels:
            c0, sim0, w0 = cpu_s(), cpu_s(child.pid), time.perf_counter()
            results = await asyncio.gather(*(one(*h) for h in ready["hosts"]))
            wall = time.perf_counter() - w0
            report(label, results, wall, cpu_s() - c0, cpu_s(child.pid) - sim0, concurrency)
        if ssh_pool is not None:
            await ssh_pool.close()
    finally:
        if child.stdin is not None:
            child.stdin.close()
        await child.wait()


def report(label: str, results: list, wall: float, cpu: float, sim_cpu: float, conc: int) -> None:
    n = len(results)
    errors: dict[str, int] = {}
    for s, r in results:
        if not s.ok:
            key = f"ssh {s.error_kind}: {(s.error or '')[:80]}"
            errors[key] = errors.get(key, 0) + 1
        if not r.alive:
            key = f"rdp {r.state}: {r.detail[:80]}"
            errors[key] = errors.get(key, 0) + 1
    ssh_ok = sum(1 for s, _ in results if s.ok)
    fresh = sum(1 for s, _ in results if s.connect_ms is not None)
    rdp_ok = sum(1 for _, r in results if r.alive)
    print(
        f"fleet pass, {label}: {n} hosts (SSH metrics + RDP), concurrency {conc}\n"
        f"  wall {wall:.1f} s, prober CPU {cpu:.1f} s ({cpu * 1000 / n:.1f} ms/host), "
        f"simulator CPU {sim_cpu:.1f} s\n  ssh ok {ssh_ok}/{n} ({fresh} new connections), "
        f"rdp alive {rdp_ok}/{n}"
    )
    for text, count in sorted(errors.items())[:5]:
        print(f"  {count} x {text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--window", type=float, default=5.0)
    parser.add_argument("--repeat", type=int, default=50, help="probes per real-server figure")
    parser.add_argument("--base", default="127.88.0.1", help="first loopback address of the fleet")
    parser.add_argument("--skip-real", action="store_true")
    parser.add_argument("--skip-fleet", action="store_true")
    parser.add_argument("--pool", action="store_true", help="fleet passes over an SshPool")
    parser.add_argument("--serve-fleet", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fleet is not None:
        serve_fleet(args.serve_fleet, args.base)
        return
    if not args.skip_real:
        asyncio.run(bench_real(args.repeat))
    if not args.skip_fleet:
        asyncio.run(bench_fleet(args.hosts, args.concurrency, args.window, args.base, args.pool))


if __name__ == "__main__":
    main()
