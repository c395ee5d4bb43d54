"""`nls --daemon` over a large simulated fleet at a compressed interval: does it keep its schedule?

Run: .venv/bin/python bench/bench_daemon.py [--servers 10000] [--cameras 30] [--interval 3m]
                                              [--intervals 3] [--console]

The fleet is served by as many simulator processes as the open-file limit needs (SSH and RDP
included, so all four checks run). The daemon runs for one interval to probe every (new) server
and then `--intervals` more; the figures cover those. Printed: slot lag (how late a slot's
probes started after it was due), fail / unknown samples, daemon RSS and open files (peak),
CPU per server probe, `nls sql` latency while probing, and with --console the attached
console's first paint and filter keystroke (bench/bench_console.py --socket).
Targets (issue 13): lag < 10 s, zero fail samples on a healthy fleet, RSS < 1 GB, open files
< 60% of the process limit.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simfleet import start_fleet

from console.config import _duration

TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def proc_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def proc_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


class Watch(threading.Thread):
    """Samples the daemon's RSS and open files every second."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.rss = 0
        self.files = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(1.0):
            try:
                self.rss = max(self.rss, proc_rss(self.pid))
                self.files = max(self.files, proc_files(self.pid))
            except OSError:
                return


def fields(line: str) -> dict[str, str]:
    return dict(m.groups() for m in re.finditer(r'(\w+)=("[^"]*"|\S+)', line))


def nls(config: Path, *args: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "console.cli", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    took = time.perf_counter() - t0
    if done.returncode not in (0, 1):
        raise SystemExit(f"nls {' '.join(args)} failed: {done.stderr}")
    return took, done.stdout or done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--servers", type=int, default=10_000)
    parser.add_argument("--cameras", type=int, default=30)
    parser.add_argument("--interval", default="3m")
    parser.add_argument("--intervals", type=int, default=3)
    parser.add_argument("--no-hosts", dest="hosts", action="store_false")
    parser.add_argument("--console", action="store_true", help="also time an attached console")
    parser.add_argument("--keep", help="keep the run's folder here (database, log)")
    args = parser.parse_args()
    interval = float(_duration(args.interval))
    folder = Path(args.keep or tempfile.mkdtemp(prefix="nls-bench-daemon-"))
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    fleet = start_fleet(
        args.servers, folder, cameras=args.cameras, hosts=args.hosts, interval=args.interval
    )
    print(
        f"fleet: {args.servers} servers x {args.cameras} cameras in {len(fleet.procs)} "
        f"simulator processes, ready in {time.perf_counter() - t0:.0f} s",
        flush=True,
    )
    log_path = folder / "daemon.log"
    log = log_path.open("w")
    daemon = subprocess.Popen(
        [sys.executable, "-m", "console.cli", "--config", str(fleet.config), "--daemon"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    ready = threading.Event()

    def follow() -> None:
        assert daemon.stderr is not None
        for line in daemon.stderr:
            log.write(line)
            lines.append(line)
            if "event=ready" in line:
                ready.set()

    threading.Thread(target=follow, daemon=True).start()
    watch = Watch(daemon.pid)
    try:
        if not ready.wait(300):
            raise SystemExit("daemon never became ready:\n" + "".join(lines[-20:]))
        started = time.perf_counter()
        watch.start()
        # First interval: every server (all new) probed in its slot.
        time.sleep(interval + 15)
        first_pass = len(lines)
        cpu0, wall0 = proc_cpu(daemon.pid), time.perf_counter()
        sql_times = []
        console: dict[str, str] = {}
        for n in range(args.intervals):
            deadline = wall0 + (n + 1) * interval
            if n == 0:
                took, _ = nls(fleet.config, "sql", "SELECT count(*) AS n FROM current_state")
                sql_times.append(took)
                took, _ = nls(
                    fleet.config,
                    "sql",
                    "SELECT state::VARCHAR AS state, count(*) AS n FROM samples GROUP BY 1",
                )
                sql_times.append(took)
                if args.console:
                    console = attached_console(folder / "bench.duckdb.sock")
            time.sleep(max(0.0, deadline - time.perf_counter()))
        cpu = proc_cpu(daemon.pid) - cpu0
        wall = time.perf_counter() - wall0
        cycles = [fields(line) for line in lines[first_pass:] if "event=cycle" in line]
        every = [fields(line) for line in lines if "event=cycle" in line]
        _, states = nls(
            fleet.config,
            "sql",
            "SELECT state::VARCHAR AS state, count(*) AS n FROM samples GROUP BY 1",
            "--format",
            "csv",
        )
        daemon.terminate()  # stats from the file itself, after the daemon's last write
        daemon.wait(120)
        _, stats = nls(fleet.config, "stats")
        raw = raw_row_bytes(folder / "bench.duckdb")
        limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        probed = sum(int(c["servers"]) for c in cycles)
        lags = [float(c["lag_s"]) for c in every if c.get("lag_s") not in (None, '""', "")]
        late = sum(1 for line in lines if "event=slot_late" in line or "slot_skipped" in line)
        print(
            f"\nnls daemon, {args.servers} servers x {args.cameras} cameras, interval "
            f"{args.interval}, {args.intervals} intervals measured after the first pass "
            f"(load average at the end: {os.getloadavg()[0]:.1f})"
        )
        rows = [
            ("servers probed per interval", f"{probed / max(1, args.intervals):,.0f}"),
            (
                "slot lag, max / mean (s)",
                f"{max(lags, default=0):.1f} / {sum(lags) / max(1, len(lags)):.1f}",
            ),
            ("slots late or skipped", str(late)),
            ("samples by state (whole run)", " ".join(states.split()[1:])),
            ("daemon RSS, peak", f"{watch.rss / 1e6:,.0f} MB"),
            (
                "daemon open files, peak",
                f"{watch.files:,} of {limit:,} ({watch.files / limit:.0%})",
            ),
            (
                "daemon CPU per server probe",
                f"{cpu / max(1, probed) * 1000:.2f} ms ({cpu:.0f} s CPU over {wall:.0f} s)",
            ),
            ("nls sql while probing (s)", " / ".join(f"{t:.2f}" for t in sql_times)),
            ("health alarms", str(sum(1 for line in lines if "alarm=on" in line))),
            ("raw rows (sample_rows) per sample", raw),
            *console.items(),
            ("run time", f"{time.perf_counter() - started:.0f} s"),
        ]
        for label, value in rows:
            print(f"  {label:<34} {value}")
        print("\n" + stats)
        print(f"log: {log_path}")
    finally:
        watch.stop.set()
        daemon.terminate()
        try:
            daemon.wait(120)
        except subprocess.TimeoutExpired:
            daemon.kill()
        fleet.stop()
        log.close()


def raw_row_bytes(database: Path) -> str:
    """Bytes per sample of `sample_rows` alone, from its blocks: the whole file over a few
    samples per series is mostly the per-series tables (`nls stats` shows that figure)."""
    import duckdb

    con = duckdb.connect(str(database), read_only=True)
    try:
        size, blocks, rows = con.execute(
            "SELECT (SELECT block_size FROM pragma_database_size()), "
            "(SELECT count(DISTINCT block_id) FROM pragma_storage_info('sample_rows') "
            "WHERE block_id >= 0), (SELECT count(*) FROM sample_rows)"
        ).fetchone()
    finally:
        con.close()
    return f"{blocks * size / max(1, rows):.2f} bytes ({rows:,} rows in {blocks} blocks)"


def attached_console(socket: Path) -> dict[str, Any]:
    done = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).with_name("bench_console.py")),
            "--socket",
            str(socket),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    found = {}
    for line in done.stdout.splitlines():
        if "first paint" in line or "filter keystroke" in line:
            label, _, value = line.strip().rpartition("  ")
            found[f"console: {label.strip()[:30]}"] = value.strip()
    if done.returncode != 0:
        found["console"] = f"failed: {done.stderr.strip().splitlines()[-1:]}"
    return found


if __name__ == "__main__":
    main()
