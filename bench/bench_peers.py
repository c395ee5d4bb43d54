"""nls beside the tools ops would otherwise use: one run, one machine, one simulated fleet.

Run: .venv/bin/python bench/bench_peers.py [--servers 1000] [--interval 30s] [--intervals 2]
                                            [--store-servers 100] [--skip-peers]

1. nls --daemon vs Prometheus + blackbox_exporter (Debian `prometheus`,
   `prometheus-blackbox-exporter`), both started here on loopback with generated configs, probing
   the same fleet at the same interval: the three Eocortex URLs of every server as blackbox
   `http` probes, the SSH and RDP ports as `tcp` probes. Measured over `--intervals` intervals
   after one warm-up interval: CPU per Eocortex HTTP request (Eocortex-only runs of both),
   CPU per server probe (everything), peak RSS, bytes on disk per stored sample.
2. nls vs Nagios `check_http` (Debian `monitoring-plugins-basic`), one process per check.
3. nls's DuckDB store vs an SQLite store shaped like Uptime Kuma's `heartbeat` table, holding
   the same month of samples (`--store-servers` x 34 checks x 2,880 cycles): a month's
   availability by server, and file size.

Missing Debian packages are installed with apt-get as .ci/run does (root), or named exactly.
Not part of CI. Prints one table of ratios.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_daemon import proc_cpu, proc_rss
from simfleet import Fleet, start_fleet

from console.config import _duration
from console.monitor.sample import Sample
from console.store.database import Store
from probes.eocortex import password_hash
from probes.simulator.fleet import DEFAULT_PASSWORD

PACKAGES = {
    "prometheus": "/usr/bin/prometheus",
    "prometheus-blackbox-exporter": "/usr/bin/prometheus-blackbox-exporter",
    "monitoring-plugins-basic": "/usr/lib/nagios/plugins/check_http",
}
URLS = (
    "/command?type=gettime",
    "/configex?",
    "/command?type=getchannelsstates",
)


def ensure_packages() -> None:
    missing = [name for name, path in PACKAGES.items() if not Path(path).exists()]
    if not missing:
        return
    if os.geteuid() != 0:
        raise SystemExit(f"missing Debian packages (install as root): {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing]
    if subprocess.run(command, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
        if subprocess.run(command, env=env, capture_output=True).returncode != 0:
            raise SystemExit(f"apt-get could not install: {' '.join(missing)}")


class Peak(threading.Thread):
    """Peak RSS of some processes, summed, sampled every second."""

    def __init__(self, pids: list[int]) -> None:
        super().__init__(daemon=True)
        self.pids = pids
        self.rss = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(1.0):
            try:
                self.rss = max(self.rss, sum(proc_rss(p) for p in self.pids))
            except OSError:
                return


def measure(pids: list[int], interval: float, intervals: int) -> tuple[float, int]:
    """CPU seconds of `pids` over `intervals` intervals after a warm-up one, and peak RSS."""
    peak = Peak(pids)
    peak.start()
    time.sleep(interval + 5)
    cpu0 = sum(proc_cpu(p) for p in pids)
    time.sleep(interval * intervals)
    cpu = sum(proc_cpu(p) for p in pids) - cpu0
    peak.done.set()
    return cpu, peak.rss


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_nls(config: Path, interval: float, intervals: int) -> dict[str, float]:
    daemon = subprocess.Popen(
        [sys.executable, "-m", "console.cli", "--config", str(config), "--daemon"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert daemon.stderr is not None
        for line in daemon.stderr:
            if "event=ready" in line:
                break
        threading.Thread(target=lambda: [None for _ in daemon.stderr], daemon=True).start()
        cpu, rss = measure([daemon.pid], interval, intervals)
    finally:
        daemon.terminate()
        daemon.wait(120)
    stats = subprocess.run(
        [sys.executable, "-m", "console.cli", "--config", str(config), "stats", "--json"],
        capture_output=True,
        text=True,
    )
    import json

    figures = json.loads(stats.stdout)
    return {"cpu": cpu, "rss": rss, "bytes_per_sample": figures["bytes_per_sample"] or 0.0}


def blackbox_config(folder: Path) -> Path:
    path = folder / "blackbox.yml"
    path.write_text(
        "modules:\n"
        "  http_2xx:\n"
        "    prober: http\n"
        "    timeout: 5s\n"
        "    http:\n"
        "      method: GET\n"
        "      valid_status_codes: [200]\n"
        "      no_follow_redirects: true\n"
        "      preferred_ip_protocol: ip4\n"
        "  tcp_connect:\n"
        "    prober: tcp\n"
        "    timeout: 5s\n"
        "    tcp:\n"
        "      preferred_ip_protocol: ip4\n"
    )
    return path


def prometheus_config(folder: Path, fleet: Fleet, interval: str, blackbox: int, tcp: bool) -> Path:
    secret = password_hash(DEFAULT_PASSWORD)
    auth = f"login=nls&password={secret}&responsetype=json"
    http_targets = [
        f"{s['api_url']}{url}{'' if url.endswith('?') else '&'}{auth}"
        for s in fleet.servers
        for url in URLS
    ]
    lines = [
        "global:",
        f"  scrape_interval: {interval}",
        "  scrape_timeout: 10s",
        "scrape_configs:",
        *_job("eocortex", "http_2xx", http_targets, blackbox),
    ]
    if tcp:
        ports = [f"{s['address']}:{s['ssh_port']}" for s in fleet.servers]
        ports += [f"{s['address']}:{s['rdp_port']}" for s in fleet.servers]
        lines += _job("hostports", "tcp_connect", ports, blackbox)
    path = folder / "prometheus.yml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _job(name: str, module: str, targets: list[str], blackbox: int) -> list[str]:
    out = [
        f"  - job_name: {name}",
        "    metrics_path: /probe",
        f"    params: {{module: [{module}]}}",
        "    static_configs:",
        "      - targets:",
    ]
    out += [f"        - '{t}'" for t in targets]
    out += [
        "    relabel_configs:",
        "      - source_labels: [__address__]",
        "        target_label: __param_target",
        "      - source_labels: [__param_target]",
        "        target_label: instance",
        "      - target_label: __address__",
        f"        replacement: 127.0.0.1:{blackbox}",
    ]
    return out


def run_peers(
    folder: Path, fleet: Fleet, interval: str, seconds: float, intervals: int, tcp: bool
) -> dict[str, float]:
    bb_port, prom_port = free_port(), free_port()
    data = folder / f"tsdb-{'full' if tcp else 'http'}"
    blackbox = subprocess.Popen(
        [
            PACKAGES["prometheus-blackbox-exporter"],
            f"--config.file={blackbox_config(folder)}",
            f"--web.listen-address=127.0.0.1:{bb_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    prometheus = subprocess.Popen(
        [
            PACKAGES["prometheus"],
            f"--config.file={prometheus_config(folder, fleet, interval, bb_port, tcp)}",
            f"--storage.tsdb.path={data}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(2)
        cpu_bb0 = proc_cpu(blackbox.pid)
        cpu, rss = measure([blackbox.pid, prometheus.pid], seconds, intervals)
        cpu_bb = proc_cpu(blackbox.pid) - cpu_bb0
        metrics = (
            urllib.request.urlopen(f"http://127.0.0.1:{prom_port}/metrics", timeout=10)
            .read()
            .decode()
        )
        appended = _metric(metrics, "prometheus_tsdb_head_samples_appended_total")
        success = _query(prom_port, "avg(probe_success)")
    finally:
        for proc in (prometheus, blackbox):
            proc.terminate()
            proc.wait(60)
    size = sum(f.stat().st_size for f in data.rglob("*") if f.is_file())
    # The blackbox CPU above includes its warm-up interval; scale to the measured ones.
    share = intervals / (intervals + 1 + 5 / seconds)
    return {
        "cpu": cpu,
        "cpu_blackbox": cpu_bb * share,
        "rss": rss,
        "bytes_per_sample": size / appended if appended else 0.0,
        "success": success,
    }


def _metric(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _query(port: int, expr: str) -> float:
    import json
    from urllib.parse import quote

    raw = urllib.request.urlopen(
        f"http://127.0.0.1:{port}/api/v1/query?query={quote(expr)}", timeout=10
    ).read()
    result = json.loads(raw)["data"]["result"]
    return float(result[0]["value"][1]) if result else float("nan")


def nagios(fleet: Fleet, count: int) -> float:
    """CPU per check_http process (user + system of the children)."""
    secret = password_hash(DEFAULT_PASSWORD)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    checks = 0
    for server in fleet.servers[:count]:
        address, port = server["address"], server["api_url"].rsplit(":", 1)[1]
        for url in URLS:
            query = f"{url}{'' if url.endswith('?') else '&'}login=nls&password={secret}"
            subprocess.run(
                [
                    PACKAGES["monitoring-plugins-basic"],
                    "-H",
                    address,
                    "-p",
                    port,
                    "-u",
                    query,
                    "-t",
                    "5",
                ],
                capture_output=True,
            )
            checks += 1
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu / checks


# -- the stores ---------------------------------------------------------------------------


def month_of_samples(servers: int) -> Any:
    """A month of 15-minute cycles: per server 30 cameras, online, rights, CPU, disk; ~1% fail."""
    rng = random.Random(13)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    cams = [f"Entrance {n:02d}" for n in range(1, 31)]
    for cycle in range(2880):
        ts = start + timedelta(minutes=15 * cycle)
        batch = []
        for n in range(servers):
            server = f"crest-{n + 1:04d}"
            down = rng.random() < 0.002
            state = "fail" if down else "ok"
            latency = round(rng.uniform(2, 40), 1)
            batch.append(
                Sample(
                    ts,
                    server,
                    "server_online",
                    "",
                    state,
                    0.0 if down else 1.0,
                    "server offline: nothing answers"
                    if down
                    else f"online; Eocortex 4.1.23 answered in {latency:.0f} ms",
                    "",
                    None if down else latency,
                )
            )
            for c, name in enumerate(cams):
                off = down or rng.random() < 0.01
                batch.append(
                    Sample(
                        ts,
                        server,
                        "camera",
                        f"{server}-cam-{c}",
                        "unknown" if down else ("fail" if off else "ok"),
                        0.0 if off else 1.0,
                        f"{name}: camera offline (NoConnection)"
                        if off
                        else f"{name}: online, recording",
                        name,
                    )
                )
            cpu = rng.uniform(20, 40)
            rate = rng.uniform(2e6, 8e6)
            batch.append(
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
            batch.append(Sample(ts, server, "cpu", "", "ok", cpu, f"CPU at {cpu:.1f}% over 5 s"))
            batch.append(
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
        yield cycle, ts, batch


KUMA = """
CREATE TABLE monitor (id INTEGER PRIMARY KEY AUTOINCREMENT, name VARCHAR(150), server TEXT);
CREATE TABLE heartbeat (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    important BOOLEAN NOT NULL DEFAULT 0,
    monitor_id INTEGER NOT NULL REFERENCES monitor(id),
    status SMALLINT NOT NULL,
    msg TEXT,
    time DATETIME NOT NULL,
    ping INTEGER,
    duration INTEGER NOT NULL DEFAULT 0,
    down_count INTEGER NOT NULL DEFAULT 0,
    end_time DATETIME,
    retries INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX monitor_time_index ON heartbeat (monitor_id, time);
CREATE INDEX monitor_important_time_index ON heartbeat (monitor_id, important, time);
CREATE INDEX important ON heartbeat (important);
"""


def stores(folder: Path, servers: int) -> dict[str, Any]:
    duck_path, lite_path = folder / "month.duckdb", folder / "kuma.sqlite"
    lite = sqlite3.connect(lite_path)
    lite.executescript(KUMA)
    monitors: dict[tuple[str, str, str], int] = {}
    last: dict[int, int] = {}
    t0 = time.perf_counter()
    written = 0
    with Store(duck_path) as store:
        for cycle, ts, batch in month_of_samples(servers):
            store.write_cycle(cycle + 1, ts, ts, batch)
            rows = []
            for s in batch:
                mid = monitors.get(s.key)
                if mid is None:
                    mid = monitors[s.key] = len(monitors) + 1
                    lite.execute(
                        "INSERT INTO monitor VALUES (?, ?, ?)",
                        (mid, f"{s.check} {s.subject}", s.server),
                    )
                status = {"ok": 1, "fail": 0, "unknown": 2}[s.state]
                rows.append(
                    (
                        int(last.get(mid) != status),
                        mid,
                        status,
                        s.detail,
                        ts.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
                        None if s.latency_ms is None else int(s.latency_ms),
                    )
                )
                last[mid] = status
            lite.executemany(
                "INSERT INTO heartbeat (important, monitor_id, status, msg, time, ping) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            written += len(batch)
            if cycle % 96 == 95:
                lite.commit()
        lite.commit()
        build = time.perf_counter() - t0
        store.con.execute("CHECKPOINT")
        raw_q = (
            "SELECT server, avg((state = 'ok')::INT) FILTER (WHERE state <> 'unknown') AS a "
            "FROM samples WHERE ts >= '2026-01-01' AND ts < '2026-02-01' GROUP BY server"
        )
        roll_q = (
            "SELECT server, sum(ok) / nullif(sum(ok + fail), 0) AS a FROM rollup_day "
            "WHERE day >= '2026-01-01' AND day < '2026-02-01' GROUP BY server"
        )
        duck_raw = _timed(lambda: store.query(raw_q))
        duck_roll = _timed(lambda: store.query(roll_q))
    lite_q = (
        "SELECT m.server, avg(h.status = 1) FROM heartbeat h JOIN monitor m ON m.id = h.monitor_id "
        "WHERE h.status <> 2 AND h.time >= '2026-01-01' AND h.time < '2026-02-01' GROUP BY m.server"
    )
    lite_t = _timed(lambda: lite.execute(lite_q).fetchall())
    lite.close()
    duck_size = duck_path.stat().st_size
    wal = duck_path.with_name(duck_path.name + ".wal")
    duck_size += wal.stat().st_size if wal.exists() else 0
    return {
        "samples": written,
        "build_s": build,
        "duck_bytes": duck_size,
        "lite_bytes": lite_path.stat().st_size,
        "duck_raw_s": duck_raw,
        "duck_rollup_s": duck_roll,
        "lite_s": lite_t,
    }


def _timed(fn: Any, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--servers", type=int, default=1000)
    parser.add_argument("--cameras", type=int, default=30)
    parser.add_argument("--interval", default="30s")
    parser.add_argument("--intervals", type=int, default=2)
    parser.add_argument("--nagios-servers", type=int, default=100)
    parser.add_argument("--store-servers", type=int, default=100)
    parser.add_argument("--skip-peers", action="store_true", help="only the store comparison")
    args = parser.parse_args()
    ensure_packages()
    seconds = float(_duration(args.interval))
    folder = Path(tempfile.mkdtemp(prefix="nls-bench-peers-"))
    rows: list[tuple[str, str, str, str]] = []
    try:
        if not args.skip_peers:
            fleet = start_fleet(args.servers, folder, cameras=args.cameras, base="127.93.0.1")
            try:
                requests = 3 * args.servers * args.intervals
                probes = args.servers * args.intervals
                http_cfg = fleet.write_config(
                    folder / "http.toml", ssh=False, rdp=False, interval=args.interval
                )
                full_cfg = fleet.write_config(folder / "full.toml", interval=args.interval)
                nls_http = run_nls(http_cfg, seconds, args.intervals)
                nls_full = run_nls(full_cfg, seconds, args.intervals)
                bb_http = run_peers(folder, fleet, args.interval, seconds, args.intervals, False)
                bb_full = run_peers(folder, fleet, args.interval, seconds, args.intervals, True)
                check_http = nagios(fleet, args.nagios_servers)
            finally:
                fleet.stop()
            ms = 1000.0
            rows += [
                (
                    "CPU per Eocortex HTTP request",
                    f"{nls_http['cpu'] / requests * ms:.3f} ms",
                    f"{bb_http['cpu_blackbox'] / requests * ms:.3f} ms blackbox; "
                    f"{bb_http['cpu'] / requests * ms:.3f} ms with Prometheus",
                    f"{nls_http['cpu'] / max(bb_http['cpu_blackbox'], 1e-9):.2f} / "
                    f"{nls_http['cpu'] / max(bb_http['cpu'], 1e-9):.2f}",
                ),
                (
                    "CPU per server probe (3 HTTP + SSH + RDP)",
                    f"{nls_full['cpu'] / probes * ms:.2f} ms (SSH runs the metrics command)",
                    f"{bb_full['cpu'] / probes * ms:.2f} ms (SSH/RDP: TCP connect only)",
                    f"{nls_full['cpu'] / max(bb_full['cpu'], 1e-9):.2f}",
                ),
                (
                    "peak RSS, Eocortex only",
                    f"{nls_http['rss'] / 1e6:.0f} MB",
                    f"{bb_http['rss'] / 1e6:.0f} MB",
                    f"{nls_http['rss'] / max(bb_http['rss'], 1):.2f}",
                ),
                (
                    "peak RSS, everything",
                    f"{nls_full['rss'] / 1e6:.0f} MB",
                    f"{bb_full['rss'] / 1e6:.0f} MB",
                    f"{nls_full['rss'] / max(bb_full['rss'], 1):.2f}",
                ),
                (
                    "bytes on disk per sample after the run",
                    f"{nls_full['bytes_per_sample']:.1f}",
                    f"{bb_full['bytes_per_sample']:.1f} (TSDB head + WAL, per appended sample)",
                    f"{nls_full['bytes_per_sample'] / max(bb_full['bytes_per_sample'], 1e-9):.2f}",
                ),
                (
                    "CPU per Eocortex request vs check_http",
                    f"{nls_http['cpu'] / requests * ms:.3f} ms",
                    f"{check_http * ms:.2f} ms per check_http process",
                    f"{nls_http['cpu'] / requests / max(check_http, 1e-9):.3f}",
                ),
            ]
            print(
                f"peers probed successfully: blackbox avg(probe_success) = "
                f"{bb_http['success']:.3f} (http), {bb_full['success']:.3f} (all)"
            )
        month = stores(folder, args.store_servers)
        rows += [
            (
                f"month's availability by server ({month['samples']:,} samples)",
                f"{month['duck_raw_s'] * 1000:.0f} ms raw view; "
                f"{month['duck_rollup_s'] * 1000:.1f} ms rollups",
                f"{month['lite_s'] * 1000:.0f} ms SQLite heartbeat",
                f"{month['duck_raw_s'] / month['lite_s']:.3f} / "
                f"{month['duck_rollup_s'] / month['lite_s']:.4f}",
            ),
            (
                "store file size for that month",
                f"{month['duck_bytes'] / 1e6:.1f} MB "
                f"({month['duck_bytes'] / month['samples']:.2f} B/sample)",
                f"{month['lite_bytes'] / 1e6:.1f} MB "
                f"({month['lite_bytes'] / month['samples']:.1f} B/sample)",
                f"{month['duck_bytes'] / month['lite_bytes']:.3f}",
            ),
        ]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(
        f"\nnls vs peers: {args.servers} servers x {args.cameras} cameras, interval "
        f"{args.interval}, {args.intervals} measured intervals; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    widths = [
        max(len(r[i]) for r in [("measure", "nls", "peer", "ratio nls/peer"), *rows])
        for i in range(4)
    ]
    for row in [("measure", "nls", "peer", "ratio nls/peer"), *rows]:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
