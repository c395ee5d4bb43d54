"""Scale and self-health: the open-file budget, the monitor's own failures (no free descriptor,
no ephemeral port, its own overload, a failing or broken store) as `unknown` with one alarm to
ops, and a 2,000-server daemon smoke test. Every cause is provoked for real: a lowered
RLIMIT_NOFILE or RLIMIT_FSIZE on the daemon process, a network namespace with one ephemeral
port, a stalled event loop."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from console.config import load_config
from console.errors import ReadOnlyError
from console.monitor.budget import BudgetError, plan_files
from console.monitor.engine import Engine
from console.simconfig import write_sim_config
from console.store.database import Store, store_options
from console.store.worker import StoreWorker
from probes.simulator.fleet import Fleet, build_fleet
from tests.smtp import SmtpServer
from tests.test_daemon import NLS, ROOT, DaemonProcess, _env, nls

OPS = "ops@visuatech.example"


@dataclass
class Site:
    fleet: Fleet
    smtp: SmtpServer
    config: Path
    daemons: list[DaemonProcess]

    @property
    def database(self) -> Path:
        return self.config.with_suffix(".duckdb")

    async def daemon(self, preexec: Callable[[], None] | None = None) -> DaemonProcess:
        d = LimitedDaemon(self.config, preexec)
        self.daemons.append(d)
        return await d.start()


class LimitedDaemon(DaemonProcess):
    """A DaemonProcess whose child can get resource limits before it starts."""

    def __init__(self, config: Path, preexec: Callable[[], None] | None) -> None:
        super().__init__(config)
        self.preexec = preexec

    async def start(self) -> DaemonProcess:
        self.proc = await asyncio.create_subprocess_exec(
            *NLS,
            "--config",
            str(self.config),
            "--daemon",
            cwd=ROOT,
            env=_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=self.preexec,
        )
        self._reader = asyncio.create_task(self._read())
        self.ready = await self.line("event=ready", limit=60)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid


@pytest.fixture
async def site() -> AsyncIterator[Callable[..., Any]]:
    made: list[Site] = []
    with tempfile.TemporaryDirectory(prefix="nls-s-", dir="/tmp") as tmp:

        async def make(
            servers: int = 3,
            interval: str = "2s",
            cameras: int = 4,
            extra: str = "",
            base: str = "127.84.0.1",
        ) -> Site:
            fleet = build_fleet(servers, cameras=cameras, http_port=0, base=base)
            await fleet.start()
            smtp = SmtpServer()
            await smtp.start()
            config = Path(tmp) / "site.toml"
            smtp_table = (
                f'[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\nops_emails = ["{OPS}"]\n\n'
            )
            write_sim_config(
                config,
                fleet,
                installers=2,
                customers=2,
                interval=interval,
                extra=smtp_table + extra,
            )
            text = config.read_text().replace('request_timeout = "3s"', 'request_timeout = "1s"')
            config.write_text(text)
            found = Site(fleet, smtp, config, [])
            made.append(found)
            return found

        yield make
        for s in made:
            for d in s.daemons:
                await d.kill()
            await s.smtp.stop()
            await s.fleet.stop()


def _lowest_free_fd(pid: int) -> int:
    used = {int(n) for n in os.listdir(f"/proc/{pid}/fd")}
    fd = 0
    while fd in used:
        fd += 1
    return fd


async def _sql(config: Path, query: str) -> list[dict[str, str]]:
    code, out, err = await nls("--config", str(config), "sql", query, "--format", "json")
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines() if line.strip()]


# -- the open-file budget ------------------------------------------------------------------------


def _config(tmp: Path, servers: int, concurrency: int | None = None) -> Any:
    fleet = build_fleet(servers, cameras=1, http_port=9)
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq0Wv3jB0V6Yk0Yb8cLwq2n3W0m8K4d3p0XqO2nQ0sA"
    path = write_sim_config(tmp / "b.toml", fleet, host_key=key)
    if concurrency is not None:
        text = path.read_text().replace("[monitor]", f"[monitor]\nconcurrency = {concurrency}")
        path.write_text(text)
    return load_config(path)


def test_a_fleet_over_the_open_file_limit_is_refused_with_what_to_change(tmp_path: Path) -> None:
    config = _config(tmp_path, 900)
    assert plan_files(config, keep_open=900, limit=20_000).planned < 12_000
    with pytest.raises(BudgetError) as refused:
        plan_files(config, keep_open=900, limit=2_048)
    text = str(refused.value)
    assert "900 servers keep an SSH connection open" in text
    assert "keep_open = false" in text and "ulimit -n" in text and "2048" in text
    busy = _config(tmp_path, 500, concurrency=400)
    with pytest.raises(BudgetError, match=r"concurrency = 400 needs 1200 open files"):
        plan_files(busy, keep_open=0, limit=1_024)


def _nofile(limit: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    return apply


async def test_the_daemon_refuses_to_start_over_its_limit_and_starts_under_it(
    site: Any,
) -> None:
    s: Site = await site(servers=60)  # 60 probes in flight, 3 files each, plus 192 for nls
    proc = await asyncio.create_subprocess_exec(
        *NLS,
        "--config",
        str(s.config),
        "--daemon",
        cwd=ROOT,
        env=_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=_nofile(512),
    )
    try:
        async with asyncio.timeout(60):
            _, err = await proc.communicate()
    finally:
        if proc.returncode is None:  # it started after all: never leave it running
            proc.kill()
            await proc.wait()
    lines = [line for line in err.decode().splitlines() if line.strip()]
    assert proc.returncode == 2, lines
    assert len(lines) == 1 and "open-file limit 512" in lines[0], lines
    assert "concurrency to at most" in lines[0] and "Traceback" not in err.decode()
    daemon = await s.daemon(preexec=_nofile(1024))  # the same fleet fits twice the limit
    assert "nofile=1024" in daemon.ready
    await daemon.line("event=cycle")


# -- the monitor's own failures ------------------------------------------------------------------


async def test_no_free_file_descriptor_gives_unknown_and_one_alarm_to_ops(site: Any) -> None:
    s: Site = await site(servers=3, interval="2s")
    daemon = await s.daemon()
    first = await daemon.line("event=cycle")
    assert "failing=0" in first and "unknown=0" in first, first
    soft, hard = resource.prlimit(daemon.pid, resource.RLIMIT_NOFILE)
    # No descriptor left: the next probes cannot open a socket (nor the store a file).
    resource.prlimit(daemon.pid, resource.RLIMIT_NOFILE, (_lowest_free_fd(daemon.pid), hard))
    alarm = await daemon.line("event=health", limit=60)
    assert "alarm=on" in alarm and "open" in alarm, alarm
    await daemon.line("event=cycle", limit=30)  # at least one more slot under the limit
    resource.prlimit(daemon.pid, resource.RLIMIT_NOFILE, (soft, hard))
    await daemon.line("unknown=0", limit=60)  # probing is whole again

    code, out, err = await nls("--config", str(s.config), "check")
    assert code == 4, (out, err)  # the alarm stands until a clean interval has passed
    assert "MONITOR FAULT" in err

    try:
        async with asyncio.timeout(60):
            mails = await s.smtp.inbox.wait_for(1)
    except TimeoutError:
        raise AssertionError("no mail to ops:\n" + daemon.log) from None
    assert mails[0].message["To"] == OPS, daemon.log
    assert "monitoring impaired" in mails[0].message["Subject"]
    states = await _sql(
        s.config, "SELECT state::VARCHAR AS state, count(*) AS n FROM samples GROUP BY 1"
    )
    counts = {r["state"]: int(r["n"]) for r in states}
    assert counts.get("fail", 0) == 0 and counts.get("unknown", 0) > 0, counts
    unknown = await _sql(
        s.config,
        "SELECT DISTINCT detail FROM samples WHERE check_name = 'server_online' "
        "AND state = 'unknown'",
    )
    assert unknown and all(
        "not checked" in r["detail"] or "not stored" in r["detail"] for r in unknown
    ), unknown
    alerts = await _sql(s.config, "SELECT count(*) AS n FROM alert_state WHERE failures > 0")
    assert alerts == [{"n": 0}]
    assert daemon.log.count("event=health alarm=on") == 1, daemon.log
    assert "Traceback" not in daemon.log
    assert all(m.message["To"] == OPS for m in s.smtp.inbox.messages), "no installer mail"


async def test_a_failing_store_gives_unknown_samples_and_an_alarm(site: Any) -> None:
    s: Site = await site(servers=3, interval="2s")
    daemon = await s.daemon()
    await daemon.line("event=cycle")
    _, hard = resource.prlimit(daemon.pid, resource.RLIMIT_FSIZE)
    resource.prlimit(daemon.pid, resource.RLIMIT_FSIZE, (1, hard))  # no file may grow
    alarm = await daemon.line("event=health alarm=on", limit=60)
    assert "database failed" in alarm and "File too large" in alarm, alarm
    failed = await daemon.line("event=cycle_failed")
    assert "File too large" in failed, failed
    resource.prlimit(daemon.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, hard))
    await daemon.line("stored", limit=60)  # the kept samples went in as unknown
    await daemon.line("event=cycle")
    rows = await _sql(
        s.config,
        "SELECT count(*) FILTER (WHERE state = 'unknown') AS unknown, "
        "count(*) FILTER (WHERE state = 'fail') AS fail FROM samples",
    )
    assert int(rows[0]["unknown"]) > 0 and int(rows[0]["fail"]) == 0, rows
    mails = await s.smtp.inbox.wait_for(1)
    assert [m.message["To"] for m in mails] == [OPS]


async def test_a_store_broken_for_good_ends_the_daemon_with_one_line(site: Any) -> None:
    s: Site = await site(servers=3, interval="1s")
    text = s.config.read_text().replace("[database]", '[database]\ncheckpoint_threshold = "1KB"')
    s.config.write_text(text)
    code, _, err = await nls("--config", str(s.config), "check")  # creates the database
    assert code == 0, err
    size = max(p.stat().st_size for p in s.database.parent.glob("site.duckdb*"))

    def limit_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (size + 1536 * 1024, resource.RLIM_INFINITY))

    daemon = await s.daemon(preexec=limit_size)
    status = await daemon.wait(limit=120)
    assert status == 1, daemon.log
    fatal = [line for line in daemon.lines if "event=stopped" in line]
    assert len(fatal) == 1 and "level=error" in fatal[0] and "restarts nls" in fatal[0], fatal
    assert "event=store_fatal" in daemon.log
    assert "Traceback" not in daemon.log


async def test_a_stalled_event_loop_makes_timeouts_unknown_not_failures(
    tmp_path: Path, fleet_factory: Any
) -> None:
    fleet = await fleet_factory(2)
    fleet.set_fault("crest-0002", "hang")
    path = write_sim_config(tmp_path / "o.toml", fleet)
    path.write_text(path.read_text().replace('request_timeout = "3s"', 'request_timeout = "1s"'))
    config = load_config(path)
    worker = StoreWorker(config.database_path, options=store_options(config))
    async with worker as store, Engine(config, store) as engine:
        calm = await engine.run_cycle(["crest-0002"])
        assert [s.state for s in calm.samples if s.check == "server_online"] == ["fail"]
        assert not engine.health.status.alarm
        loop = asyncio.get_running_loop()
        loop.call_later(0.2, time.sleep, 1.5)  # the monitor's own stall, 1.5 s
        stalled = await engine.run_cycle(["crest-0002"])
        online = [s for s in stalled.samples if s.check == "server_online"]
        assert [s.state for s in online] == ["unknown"]
        assert "overload" in online[0].detail
        assert engine.health.status.alarm
        assert "overloaded" in engine.health.status.cause


NETNS_PROBE = textwrap.dedent(
    """
    import asyncio, json, socket, sys
    from pathlib import Path
    from console.config import load_config
    from console.monitor.engine import Engine
    from console.simconfig import write_sim_config
    from console.store.database import store_options
    from console.store.worker import StoreWorker
    from probes.simulator.fleet import build_fleet

    async def main(folder):
        fleet = build_fleet(1, cameras=2, http_port=8080, base="127.0.0.1")  # not ephemeral
        await fleet.start()
        server = fleet.servers["crest-0001"]
        # The one ephemeral port of this namespace, taken towards the Eocortex API's address.
        held = socket.create_connection((server.address, server.http_port))
        config = load_config(write_sim_config(Path(folder) / "n.toml", fleet))
        async with StoreWorker(config.database_path, options=store_options(config)) as store:
            async with Engine(config, store) as engine:
                batch = await engine.run_cycle()
                print(json.dumps({
                    "states": {s.check: s.state for s in batch.samples},
                    "online": [s.detail for s in batch.samples if s.check == "server_online"],
                    "alarm": engine.health.status.alarm,
                    "cause": engine.health.status.cause,
                }))
        held.close()
        await fleet.stop()

    asyncio.run(main(sys.argv[1]))
    """
)


def test_no_ephemeral_port_gives_unknown_and_an_alarm(tmp_path: Path) -> None:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("needs unshare and ip (util-linux, iproute2)")
    if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0:
        pytest.skip("cannot create a network namespace here (needs root)")
    script = tmp_path / "netns_probe.py"
    script.write_text(NETNS_PROBE)
    shell = (
        'ip link set lo up && sysctl -q -w net.ipv4.ip_local_port_range="40000 40000" && '
        f'exec "{sys.executable}" "{script}" "{tmp_path}"'
    )
    done = subprocess.run(
        ["unshare", "-n", "sh", "-c", shell],
        cwd=ROOT,
        env={**_env(), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["states"]["server_online"] == "unknown", result
    assert "fail" not in result["states"].values(), result
    assert "Cannot assign requested address" in result["online"][0], result
    assert result["alarm"] and "could not open connections" in result["cause"]


# -- 2,000 servers through a real daemon ---------------------------------------------------------


async def test_two_thousand_servers_through_a_daemon(site: Any) -> None:
    started = time.monotonic()
    s: Site = await site(servers=2000, interval="10s", cameras=30, base="127.86.0.1")
    text = s.config.read_text().replace('request_timeout = "1s"', 'request_timeout = "5s"')
    s.config.write_text(text.replace('server_timeout = "10s"', 'server_timeout = "30s"'))
    daemon = await s.daemon()
    probed = 0
    while probed < 2000:
        line = await daemon.line("event=cycle", limit=60)
        fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
        assert fields["failing"] == "0", line
        probed += int(fields["servers"])
    rows = await _sql(
        s.config,
        "SELECT count(DISTINCT server) AS servers, count(*) FILTER (WHERE state <> 'ok') AS bad "
        "FROM samples",
    )
    if rows != [{"servers": 2000, "bad": 0}]:
        why = await _sql(
            s.config,
            "SELECT check_name, state::VARCHAR AS state, any_value(detail) AS detail, "
            "count(*) AS n FROM samples WHERE state <> 'ok' GROUP BY ALL",
        )
        raise AssertionError(f"{rows}: {why}")
    assert time.monotonic() - started < 120  # the CI budget is 60 s; this only guards a hang


# -- rollups and retention -----------------------------------------------------------------------


def test_store_history_never_reads_raw_samples_after_retention(tmp_path: Path) -> None:
    """Months past keep_raw_months move to Parquet and stay queryable through `samples`."""
    from datetime import UTC, datetime

    from console.monitor.sample import Sample

    archive = tmp_path / "archive"
    with Store(tmp_path / "r.duckdb", archive=archive) as store:
        cycle = 1
        for month in (1, 2, 3, 4):
            ts = datetime(2026, month, 10, 12, 0, tzinfo=UTC)
            batch = [
                Sample(ts, "s1", "cpu", "", "ok", 10.0 * month, f"CPU at {10.0 * month:.1f}%"),
                Sample(ts, "s1", "camera", "c1", "fail", 0.0, "Gate 01: camera offline", "Gate 01"),
            ]
            store.write_cycle(cycle, ts, ts + timedelta(seconds=1), batch)
            cycle += 1
        files = store.apply_retention(datetime(2026, 5, 15, tzinfo=UTC), keep_months=2)
        assert [f.name for f in files] == ["samples-2026-01.parquet", "samples-2026-02.parquet"]
        assert store.scalar("SELECT count(*) FROM sample_rows") == 4
        rows = store.query(
            "SELECT month(ts) AS m, value, detail FROM samples WHERE check_name = 'cpu' ORDER BY ts"
        ).to_pylist()
        assert rows == [
            {"m": m, "value": 10.0 * m, "detail": f"CPU at {10.0 * m:.1f}%"} for m in (1, 2, 3, 4)
        ]
        assert store.query("SELECT count(*) AS n FROM samples").to_pylist() == [{"n": 8}]
        # The engine may read and write the archive folder (DuckDB's allowed_directories); a
        # client statement may not name it, only read what the `samples` view shows of it.
        first = archive / "samples-2026-01.parquet"
        for text in (
            f"SELECT * FROM read_parquet('{first}')",
            f"SELECT * FROM '{first}'",
            f"SELECT * FROM glob('{archive}/*')",
            f"SELECT count(*) FROM samples UNION ALL SELECT count(*) FROM parquet_scan('{first}')",
            f"COPY (SELECT * FROM samples) TO '{archive}/copy.parquet' (FORMAT parquet)",
            f"SELECT * FROM read_text('{first}')",
        ):
            with pytest.raises(ReadOnlyError):
                store.query(text)
        assert sorted(p.name for p in archive.iterdir()) == [
            "samples-2026-01.parquet",
            "samples-2026-02.parquet",
        ]
    # reopened: the view still covers the archive, and nls sql answers over it
    config = tmp_path / "r.toml"
    config.write_text(
        f'[database]\npath = "{tmp_path / "r.duckdb"}"\narchive = "{archive}"\n'
        '[[installers]]\nid = "i"\nname = "I"\nemails = ["a@b.example"]\n'
        '[[customers]]\nid = "c"\nname = "C"\ninstaller = "i"\n'
        '[[servers]]\nid = "s1"\ncustomer = "c"\naddress = "127.0.0.9"\n'
    )
    done = subprocess.run(
        [
            *NLS,
            "--config",
            str(config),
            "sql",
            "SELECT count(*) AS n FROM samples WHERE ts < TIMESTAMPTZ '2026-03-01'",
            "--format",
            "csv",
        ],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout.split()) == (0, ["n", "4"]), done.stderr
    copy = subprocess.run(
        [*NLS, "--config", str(config), "sql", f"COPY sample_rows TO '{archive}/rows.csv'"],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert copy.returncode == 2 and "read-only" in copy.stderr, copy.stderr
    assert not (archive / "rows.csv").exists()
    stats = subprocess.run(
        [*NLS, "--config", str(config), "stats", "--json"],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    figures = json.loads(stats.stdout)
    assert figures["archived_samples"] == 4 and figures["samples"] == 4, figures
    assert figures["archive_files"] == 2 and figures["bytes_per_sample"] > 0
    # archived months are read-only: history imported into one is refused whole
    history = tmp_path / "h.csv"
    history.write_text(
        "ts,server,check,subject,state,value,detail\n"
        "2026-02-20T00:00:00Z,s1,cpu,,ok,5,\n"
        "2026-04-20T00:00:00Z,s1,cpu,,ok,5,\n"
    )
    refused = subprocess.run(
        [*NLS, "--config", str(config), "import", "samples", str(history)],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.strip().endswith("nothing was imported"), refused.stderr
    assert "before 2026-03-01" in refused.stderr and "Traceback" not in refused.stderr


def test_the_console_header_shows_the_alarm_and_a_late_schedule() -> None:
    from datetime import UTC, datetime

    from console.tui.header import ConsoleStatus, header_content

    now = datetime(2026, 12, 1, tzinfo=UTC)
    calm = header_content("fleet", ConsoleStatus(loading=False, lag_s=2.0), now).plain
    assert "MONITOR FAULT" not in calm and "behind schedule" not in calm
    status = ConsoleStatus(
        loading=False,
        health="MONITOR FAULT: the monitor could not open connections: x (3 probes unknown)",
        lag_s=12.4,
    )
    text = header_content("fleet", status, now).plain
    assert "MONITOR FAULT: the monitor could not open connections" in text
    assert "probes 12 s behind schedule" in text


def test_old_hourly_rollups_are_dropped_and_long_history_reads_the_daily_ones(
    tmp_path: Path,
) -> None:
    """keep_hourly_days: hourly rollups past it go (they would outweigh the raw samples over 13
    months); a 30-day history still answers from the daily rollups, a 2-day one from the
    hourly ones that stay."""
    from datetime import UTC, datetime

    from console.monitor.sample import Sample

    now = datetime(2026, 5, 31, 12, 0, tzinfo=UTC)
    with Store(tmp_path / "h.duckdb") as store:
        for day in range(40, 0, -1):
            ts = now - timedelta(days=day) + timedelta(minutes=5)
            cpu = float(day)
            sample = Sample(ts, "s1", "cpu", "", "ok", cpu, f"CPU at {cpu:.1f}% over 5 s")
            store.write_cycle(41 - day, ts, ts, [sample])
        assert store.scalar("SELECT count(*) FROM rollup_hour") == 40
        assert store.prune_rollups(now, keep_hourly_days=35) == 5
        assert store.scalar("SELECT count(*) FROM rollup_hour") == 35
        assert store.scalar("SELECT count(*) FROM rollup_day") == 40
        month = store.named("history", ["s1", "cpu", now - timedelta(days=30), now]).to_pylist()
        assert [r["value"] for r in month] == [float(d) for d in range(30, 0, -1)]
        two_days = store.named("history", ["s1", "cpu", now - timedelta(days=2), now]).to_pylist()
        assert [r["value"] for r in two_days] == [2.0, 1.0]
        assert store.prune_rollups(now, keep_hourly_days=35) == 0


def test_compacting_an_hour_keeps_every_sample_as_it_was(tmp_path: Path) -> None:
    """The nightly rewrite of yesterday's raw samples (Store.compact_hour) changes how they
    are packed, never what they say: samples, predecessors and the month's figures are equal."""
    from datetime import UTC, datetime

    from console.monitor.sample import Sample

    t = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
    with Store(tmp_path / "c.duckdb") as store:
        for n in range(12):
            ts = t + timedelta(minutes=5 * n)
            state = "fail" if n in (4, 5, 6) else "ok"
            batch = [
                Sample(ts, f"s{k}", "server_online", "", state, 1.0, "online") for k in range(50)
            ]
            store.write_cycle(n + 1, ts, ts, batch)
            store.con.execute("CHECKPOINT")
        query = (
            "SELECT ts, server, state::VARCHAR AS state, value, detail FROM samples ORDER BY ALL"
        )
        raw = "SELECT * EXCLUDE (cycle) FROM sample_rows ORDER BY ts, series"
        before, rows_before = store.query(query), store.query(raw)
        assert store.compact_hour(t) == 600
        assert store.compact_hour(t + timedelta(hours=1)) == 0
        assert store.query(query) == before
        assert store.query(raw) == rows_before
