"""`nls --daemon` as a real process: a simulated fleet and an SMTP server run in the test's event
loop, the daemon in a subprocess probes them over loopback, and the test follows the daemon's
log lines and socket, never fixed sleeps."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from console.daemon.remote import RemoteSource
from console.simconfig import write_sim_config
from probes.simulator.fleet import Fleet, build_fleet
from tests.schedule import QUIET, quiet_interval
from tests.smtp import SmtpServer

ROOT = Path(__file__).resolve().parents[1]
NLS = [sys.executable, "-m", "console.cli"]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NLS_CONFIG", "NLS_SOCKET")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


class DaemonProcess:
    """A running `nls --daemon`; `await line("event=cycle")` waits for the next matching line."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.proc: asyncio.subprocess.Process | None = None
        self.lines: list[str] = []
        self._seen = 0
        self._changed = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self.ready = ""

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
        )
        self._reader = asyncio.create_task(self._read())
        self.ready = await self.line("event=ready")
        return self

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        async for raw in self.proc.stderr:
            self.lines.append(raw.decode().rstrip("\n"))
            self._changed.set()
        self._changed.set()

    async def line(self, needle: str, limit: float = 30.0) -> str:
        """The next unread line containing `needle`; fails with the log if the daemon exits."""
        async with asyncio.timeout(limit):
            while True:
                while self._seen < len(self.lines):
                    text = self.lines[self._seen]
                    self._seen += 1
                    if needle in text:
                        return text
                if self._reader is not None and self._reader.done():
                    raise AssertionError(f"daemon ended before {needle!r}:\n" + self.log)
                self._changed.clear()
                await self._changed.wait()

    async def cycles(self, n: int) -> list[str]:
        return [await self.line("event=cycle") for _ in range(n)]

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def send(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    async def wait(self, limit: float = 30.0) -> int:
        assert self.proc is not None
        async with asyncio.timeout(limit):
            code = await self.proc.wait()
            if self._reader is not None:
                await self._reader
        return code

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.wait()


async def nls(*args: str) -> tuple[int, str, str]:
    """Run an nls command without blocking the loop that serves the fleet and the mail."""
    proc = await asyncio.create_subprocess_exec(
        *NLS,
        *args,
        cwd=ROOT,
        env=_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(60):
            out, err = await proc.communicate()
    finally:
        if proc.returncode is None:  # timed out or cancelled: never leave it running
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@dataclass
class Site:
    fleet: Fleet
    smtp: SmtpServer
    config: Path
    daemons: list[DaemonProcess]

    async def daemon(self) -> DaemonProcess:
        d = DaemonProcess(self.config)
        self.daemons.append(d)
        return await d.start()

    @property
    def database(self) -> Path:
        return self.config.with_suffix(".duckdb")


@pytest.fixture
async def site() -> AsyncIterator[Callable[..., Any]]:
    """make(servers=4, interval="1s", server_timeout="3s") -> Site; all stopped at teardown.
    interval="quiet": no scheduled cycle during the test (tests/schedule.py)."""
    made: list[Site] = []
    with tempfile.TemporaryDirectory(prefix="nls-d-", dir="/tmp") as tmp:

        async def make(servers: int = 4, interval: str = "1s", server_timeout: str = "3s") -> Site:
            fleet = build_fleet(servers, cameras=4, http_port=0, base="127.83.0.1")
            await fleet.start()
            smtp = SmtpServer()
            await smtp.start()
            config = Path(tmp) / "site.toml"
            extra = f'[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\n'
            if interval == QUIET:
                interval = quiet_interval(fleet.servers)
            write_sim_config(
                config, fleet, installers=2, customers=2, interval=interval, extra=extra
            )
            text = config.read_text().replace('"10s"', f'"{server_timeout}"')
            config.write_text(text.replace('request_timeout = "3s"', 'request_timeout = "1s"'))
            found = Site(fleet, smtp, config, [])
            made.append(found)
            return found

        yield make
        for s in made:
            for d in s.daemons:
                await d.kill()
            await s.smtp.stop()
            await s.fleet.stop()


def test_the_daemon_path_never_imports_textual() -> None:
    code = (
        "import sys; import console.cli, console.daemon.process, console.monitor.service, "
        "console.daemon.api, console.daemon.remote, console.daemon.runtime; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'textual'); assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


async def test_daemon_alerts_serves_a_console_and_stops_on_sigterm(site: Any) -> None:
    s: Site = await site()
    daemon = await s.daemon()
    sock = s.database.with_name(s.database.name + ".sock")
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o660
    await daemon.cycles(1)

    console = await RemoteSource.connect(sock)
    updates = console.updates()
    s.fleet.set_fault("crest-0002", "camera_offline", camera=1)
    async with asyncio.timeout(30):
        async for rows in updates:
            row = next((r for r in rows if r.server_id == "crest-0002"), None)
            if row is not None and row.status == "problem":
                break
    assert row.cameras_online == 3 and row.failing[0].check == "camera"
    assert (await console.info()).mode == "attached"
    mails = await s.smtp.inbox.wait_for(1)
    assert "crest-0002" in mails[0].message["Subject"].lower() + str(mails[0].message)
    await updates.aclose()
    await console.close()  # closing the console never disturbs the daemon
    await daemon.cycles(2)
    assert len(s.smtp.inbox.messages) == 1, "one e-mail per incident, not one per cycle"
    assert "level=error" not in daemon.log and "Traceback" not in daemon.log

    second = await nls("--config", str(s.config), "--daemon")
    assert second[0] == 3, second
    assert "another nls daemon" in second[2] and "already owns" in second[2]

    code, out, err = await nls("--config", str(s.config), "check", "--server", "crest-0002")
    assert code == 1 and "camera offline" in out, (out, err)
    code, out, err = await nls(
        "--config", str(s.config), "sql", "SELECT count(*) AS n FROM outbox", "--format", "csv"
    )
    assert (code, out.splitlines()) == (0, ["n", "1"]), err
    code, out, _ = await nls("--config", str(s.config), "mail", "list")
    assert code == 0 and "alert" in out and "sent" in out

    await _maintenance_through_the_daemon(s)

    daemon.send(signal.SIGTERM)
    assert await daemon.wait() == 0, daemon.log
    assert "event=stopped" in daemon.log and "level=error" not in daemon.log
    assert not sock.exists()
    assert s.fleet.password not in daemon.log


async def _maintenance_through_the_daemon(s: Site) -> None:
    cfg = ["--config", str(s.config)]
    code, out, err = await nls(
        *cfg,
        "maintenance",
        "add",
        "--server",
        "crest-0003",
        "--start",
        "2026-01-01T00:00Z",
        "--end",
        "2030-01-01 00:00",
        "--reason",
        "cabinet move",
    )
    assert code == 0 and out.startswith("added maintenance window 1"), err
    code, out, err = await nls(*cfg, "maintenance", "add", "--server", "ghost", "--reason", "x")
    assert code == 2 and "no server 'ghost'" in err
    code, out, _ = await nls(*cfg, "maintenance", "list")
    assert code == 0 and "server crest-0003" in out and "cabinet move" in out
    assert (await nls(*cfg, "maintenance", "remove", "1"))[0] == 0
    code, _, err = await nls(*cfg, "maintenance", "remove", "1")
    assert code == 2 and "no active maintenance window 1" in err


async def test_sigint_finishes_the_batch_and_exits_zero(site: Any) -> None:
    s: Site = await site()
    daemon = await s.daemon()
    await daemon.cycles(1)
    daemon.send(signal.SIGINT)
    assert await daemon.wait() == 0
    assert "event=signal signal=SIGINT" in daemon.log and "Traceback" not in daemon.log


async def test_sigkill_mid_cycle_then_restart_resumes_counts_without_duplicates(
    site: Any,
) -> None:
    s: Site = await site(server_timeout="2s")
    s.fleet.set_fault("crest-0001", "camera_offline", camera=0)
    s.fleet.set_fault("crest-0004", "hang")  # every cycle lasts until its timeout
    hung = s.fleet.server("crest-0004")
    first = await s.daemon()
    await first.cycles(2)  # strikes 1 and 2: pending, no mail yet
    seen = len(hung.requests)
    async with asyncio.timeout(10):
        while len(hung.requests) == seen:  # noqa: ASYNC110 - the fleet's own state
            await asyncio.sleep(0.01)
    first.send(signal.SIGKILL)  # the third cycle is in flight
    assert await first.wait() == -signal.SIGKILL
    assert s.smtp.inbox.messages == []

    second = await s.daemon()  # the lock died with the process; the stale socket is replaced
    await second.cycles(1)  # strike 3, counted from the store
    await s.smtp.inbox.wait_for(1)
    await second.cycles(2)
    subjects = [m.message["Subject"] for m in s.smtp.inbox.messages]
    assert len(subjects) == len(set(subjects)), subjects
    about_0001 = [m for m in s.smtp.inbox.messages if "crest-0001" in m.raw.decode().lower()]
    assert len(about_0001) == 1, subjects
    second.send(signal.SIGTERM)
    assert await second.wait() == 0

    code, out, err = await nls(
        "--config",
        str(s.config),
        "sql",
        "SELECT c.id, c.samples, count(x.cycle) AS stored FROM cycles c "
        "LEFT JOIN samples x ON x.cycle = c.id GROUP BY ALL HAVING c.samples <> count(x.cycle)",
        "--format",
        "csv",
    )
    assert (code, out.splitlines()) == (0, ["id,samples,stored"]), err  # no partial cycle
    code, out, err = await nls(
        "--config",
        str(s.config),
        "sql",
        "SELECT a.failures, (SELECT count(*) FROM samples x WHERE x.server = a.server AND "
        "x.check_name = a.check_name AND x.subject = a.subject AND x.state = 'fail') AS stored, "
        "a.alerted_at = (SELECT ts FROM samples x WHERE x.server = a.server AND "
        "x.check_name = a.check_name AND x.subject = a.subject AND x.state = 'fail' "
        "ORDER BY ts LIMIT 1 OFFSET 2) AS at_third "
        "FROM alert_state a WHERE a.server = 'crest-0001' AND a.status = 'alerting'",
        "--format",
        "csv",
    )
    assert code == 0, err
    failures, stored, at_third = out.splitlines()[1].split(",")
    assert int(failures) == int(stored) >= 5  # every stored failure counted, across the crash
    assert at_third.lower() == "true", "the installer was alerted at the third failure, not later"


async def test_a_database_held_by_another_process_refuses_the_daemon(site: Any) -> None:
    from console.store.database import Store

    s: Site = await site()
    with Store(s.database):  # e.g. an embedded console
        code, _, err = await nls("--config", str(s.config), "--daemon")
    assert code == 3 and "in use by another nls process" in err, err


async def test_a_long_database_path_gets_a_short_socket_that_clients_find(site: Any) -> None:
    s: Site = await site()
    deep = s.config.parent / ("d" * 50) / ("e" * 50) / "fleet.duckdb"
    deep.parent.mkdir(parents=True)
    text = s.config.read_text().replace(str(s.database), str(deep))
    s.config.write_text(text)
    daemon = await s.daemon()
    socket_path = field_of(daemon.ready, "socket")
    assert len(socket_path) <= 107 and not socket_path.startswith(str(deep.parent))
    pointer = deep.with_name("fleet.duckdb.sock.path")
    assert pointer.read_text().strip() == socket_path
    await daemon.cycles(1)
    code, out, err = await nls(
        "--config", str(s.config), "sql", "SELECT count(*) > 0 AS ok FROM cycles", "--format", "csv"
    )
    assert (code, out.splitlines()) == (0, ["ok", "True"]), err
    daemon.send(signal.SIGTERM)
    assert await daemon.wait() == 0


def field_of(line: str, name: str) -> str:
    return next(p.split("=", 1)[1] for p in line.split() if p.startswith(name + "="))


def test_log_lines_are_logfmt_and_quote_what_needs_it() -> None:
    import io
    import logging

    from console.daemon.runtime import LogfmtFormatter, event

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(LogfmtFormatter(timestamps=False))
    log = logging.getLogger("nls.test.logfmt")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        event(log, "cycle", servers=20, samples=400, ms=12.5)
        log.warning('outbox k1: attempt 1 failed: 421 "busy"')
    finally:
        log.removeHandler(handler)
    first, second = stream.getvalue().splitlines()
    assert first == "level=info event=cycle servers=20 samples=400 ms=12.5"
    assert second == (
        'level=warning logger=nls.test.logfmt msg="outbox k1: attempt 1 failed: 421 \\"busy\\""'
    )


_CONSOLE_STAND_IN = """
import sys, types
launch = types.ModuleType("console.tui.launch")
async def console_main(config, *, installer, source):
    snap = await source.snapshot()
    print(source.mode, installer, len(snap.rows), snap.mode, snap.installer)
    return 0
launch.console_main = console_main
sys.modules["console.tui.launch"] = launch
from console.cli import main
main(sys.argv[1:])
"""


async def test_nls_attaches_the_console_to_a_running_daemon_else_embeds(site: Any) -> None:
    """`nls` hands the console a RemoteSource when a daemon runs, else an embedded source with
    the same scope (the Textual app itself is replaced by a stand-in that prints what it got)."""
    s: Site = await site()
    daemon = await s.daemon()
    await daemon.cycles(1)
    installer = "secutec"

    async def console(*args: str) -> str:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _CONSOLE_STAND_IN,
            "--config",
            str(s.config),
            *args,
            cwd=ROOT,
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            async with asyncio.timeout(60):
                out, err = await proc.communicate()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        assert proc.returncode == 0, err.decode()
        return out.decode().strip()

    scoped = await console("--installer", installer)
    mode, who, rows, snap_mode, snap_installer = scoped.split()
    assert (mode, who, snap_mode, snap_installer) == ("attached", installer, "attached", installer)
    assert 0 < int(rows) < 4  # only this installer's servers
    assert (await console()).split()[2] == "4"
    daemon.send(signal.SIGTERM)
    assert await daemon.wait() == 0
    mode, who, rows, _, _ = (await console("--installer", installer)).split()
    assert (mode, who) == ("embedded", installer) and 0 < int(rows) < 4
    code, _, err = await nls("--config", str(s.config), "--installer", "nobody")
    assert code == 2 and "no installer 'nobody'" in err


async def test_the_console_attached_to_a_running_daemon_shows_a_fault_as_it_happens(
    site: Any, tmp_path: Path
) -> None:
    """The real console app (driven by Pilot) on a RemoteSource to a real `nls --daemon`: a
    fault set on the simulator reaches the grid through the daemon's probes and update stream."""
    from console.tui.app import NlsApp
    from tests.test_tui_app import grid_of, loaded, screen_text, shows, until

    s: Site = await site()
    daemon = await s.daemon()
    await daemon.cycles(1)
    source = RemoteSource(Path(field_of(daemon.ready, "socket")))
    app = NlsApp(source, state_dir=tmp_path / "state", watch_hangup=False)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, loaded(app), limit=30)
            grid = grid_of(app)
            assert grid.model.total == 4
            assert "attached" in screen_text(app)
            s.fleet.set_fault("crest-0002", "camera_offline", camera=1)

            def shows_the_fault() -> bool:
                row = grid.model.get("crest-0002")
                return row is not None and row.status == "problem"

            await until(pilot, shows_the_fault, limit=30)
            await shows(pilot, "3/4", "cam (3)")  # confirmed at the third check
            assert app.status.counts.cameras_offline == 1
    finally:
        await source.close()
    daemon.send(signal.SIGTERM)
    assert await daemon.wait() == 0
    assert "level=error" not in daemon.log and "Traceback" not in daemon.log
