"""The `nls` commands end to end, as separate processes, each run twice: embedded (no daemon,
the command runs the service itself) and attached (a real `nls --daemon` owns the database).

Every test runs under both modes with the same assertions, and the attached run also compares
its whole transcript (exit status, stdout, stderr of every command, times and paths masked) with
the embedded run of the same test: a command cannot behave differently with and without a
daemon. An attached command that failed to attach would exit 3 (the daemon holds the database).
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from console.config import load_config
from tests.schedule import quiet_interval

ROOT = Path(__file__).resolve().parent.parent
NLS = [sys.executable, "-m", "console.cli"]
MODES = ("embedded", "attached")
TRANSCRIPTS: dict[str, list[tuple[tuple[str, ...], int, str, str]]] = {}
_TIME = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?")
# What a probe measured (latency, CPU, disk rate) differs from one cycle to the next.
_MEASURED = re.compile(r'"value": [-+.e\d]+|\d+(\.\d+)? ?(ms|%|[kMG]?B/s)(?![\w/])')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NLS_CONFIG", "NLS_SOCKET")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    def json_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.splitlines()]


def nls(*args: str) -> Result:
    done = subprocess.run(
        [*NLS, *args], capture_output=True, text=True, timeout=120, env=_env(), check=False
    )
    return Result(done.returncode, done.stdout, done.stderr)


class Simulator:
    """One `nls simulate` for the module; every test starts from a healed fleet."""

    def __init__(self, folder: Path) -> None:
        self.config = folder / "fleet.toml"
        self.control_port = free_port()
        self.proc = subprocess.Popen(
            [
                *NLS,
                "simulate",
                "--servers",
                "5",
                "--cameras",
                "4",
                "--write-config",
                str(self.config),
                "--control-port",
                str(self.control_port),
                "--http-port",
                "0",
                "--base",
                "127.78.0.1",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )

    def wait_ready(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            if line.strip() == "ready":
                return
        pytest.fail(f"simulator exited {self.proc.wait()} before it was ready")

    def fault(self, server: str, fault: str, camera: int | None = None) -> None:
        payload: dict[str, Any] = {"server": server, "fault": fault}
        if camera is not None:
            payload["camera"] = camera
        self._post("/fault", payload)

    def heal(self) -> None:
        self._post("/heal", {})

    @functools.cached_property
    def quiet_interval(self) -> str:
        """No server of this fleet is due for two hours (computed once, for the module)."""
        return quiet_interval(s.id for s in load_config(self.config).servers)

    def _post(self, path: str, payload: dict[str, Any]) -> None:
        url = f"http://127.0.0.1:{self.control_port}{path}"
        answer = httpx.post(url, json=payload, timeout=30).json()
        assert answer["ok"], answer

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    simulator = Simulator(tmp_path_factory.mktemp("sim"))
    try:
        simulator.wait_ready()
        yield simulator
    finally:
        simulator.stop()


class Daemon:
    """A running `nls --daemon`, its log read by a thread so the test can wait on a line."""

    def __init__(self, config: Path) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.proc = subprocess.Popen(
            [*NLS, "--config", str(config), "--daemon"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, needle: str, count: int = 1, limit: float = 60.0) -> None:
        def seen() -> bool:
            return sum(needle in line for line in self.lines) >= count

        with self._changed:
            if not self._changed.wait_for(
                lambda: seen() or not self._reader.is_alive(), timeout=limit
            ):
                pytest.fail(f"no {needle!r} from the daemon in {limit} s:\n" + self.log)
            if not seen():
                pytest.fail(f"the daemon ended before {needle!r}:\n" + self.log)

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)
        self._reader.join(30)


@dataclass
class Site:
    """One test's database and configuration, with or without a daemon owning it."""

    mode: str
    folder: Path
    config: Path
    sim: Simulator
    key: str
    daemon: Daemon | None = None
    transcript: list[tuple[tuple[str, ...], int, str, str]] = field(default_factory=list)

    def nls(self, *args: str, compare: bool = True) -> Result:
        """Run a command on this site (--config after the command, as users type it) and, when
        attached, check that it did exactly what the embedded run of this test did."""
        result = nls(*args, "--config", str(self.config))
        if compare:
            masked = tuple(self._mask(a) for a in args)  # a file in the site's folder
            entry = (masked, result.code, self._mask(result.out), self._mask(result.err))
            self.transcript.append(entry)
            embedded = TRANSCRIPTS.get(self.key)
            if self.mode == "attached" and embedded is not None:
                step = len(self.transcript) - 1
                assert step < len(embedded), f"attached ran more commands: {args}"
                assert entry == embedded[step], _difference(embedded[step], entry)
        return result

    def _mask(self, text: str) -> str:
        text = _TIME.sub("<time>", text.replace(str(self.folder), "<site>"))
        return _MEASURED.sub("<measured>", text)


def _difference(embedded: tuple[Any, ...], attached: tuple[Any, ...]) -> str:
    args, code, out, err = embedded
    lines = difflib.unified_diff(
        f"exit {code}\n{out}\n{err}".splitlines(),
        f"exit {attached[1]}\n{attached[2]}\n{attached[3]}".splitlines(),
        "embedded",
        "attached",
        lineterm="",
    )
    return f"nls {' '.join(args)} differs with a daemon:\n" + "\n".join(lines)


@contextlib.contextmanager
def open_site(
    mode: str,
    sim: Simulator,
    tmp_path: Path,
    key: str,
    edit: Callable[[str], str] = lambda text: text,
) -> Iterator[Site]:
    """A fresh database holding one healthy cycle: stored by the daemon's start-up cycle when
    attached, by one `nls check` when embedded. The daemon's interval leaves every server's
    slot hours away (`Simulator.quiet_interval`), so no scheduled cycle can interleave with the
    test's commands. `edit` changes the configuration's text (a test's own policies)."""
    sim.heal()
    config = tmp_path / "site.toml"
    text = sim.config.read_text(encoding="utf-8")
    text = text.replace(str(sim.config.with_suffix(".duckdb")), str(tmp_path / "site.duckdb"))
    text = text.replace('interval = "15m"', f'interval = "{sim.quiet_interval}"')
    config.write_text(edit(text), encoding="utf-8")
    s = Site(mode, tmp_path, config, sim, key)
    try:
        if s.mode == "attached":
            s.daemon = Daemon(config)
            s.daemon.wait_for("event=cycle")
        else:
            first = nls("check", "--config", str(config))
            assert first.code == 0, first.err
        yield s
        if s.mode == "embedded":
            TRANSCRIPTS[s.key] = s.transcript
        else:
            embedded = TRANSCRIPTS.get(s.key)
            assert embedded is None or len(embedded) == len(s.transcript)
    finally:
        if s.daemon is not None:
            s.daemon.stop()
            assert "Traceback" not in s.daemon.log, s.daemon.log


@pytest.fixture(params=MODES)
def site(request: pytest.FixtureRequest, sim: Simulator, tmp_path: Path) -> Iterator[Site]:
    """open_site() for each mode."""
    with open_site(request.param, sim, tmp_path, request.node.originalname) as s:
        yield s


SERVERS = [f"crest-{n:04d}" for n in range(1, 6)]
HEADER = "SERVER      CUSTOMER           STATUS  CAMERAS  PROBLEMS"


def test_check_prints_a_sample_for_every_server_and_camera(site: Site) -> None:
    result = site.nls("check", "--json")
    assert result.code == 0, result.err
    samples = result.json_lines()
    assert {s["server"] for s in samples} == set(SERVERS)
    assert set(samples[0]) == {"ts", "server", "check", "subject", "state", "value", "detail"}
    for check, count in (("server_online", 5), ("camera", 20), ("cpu", 5), ("disk_activity", 5)):
        found = [s for s in samples if s["check"] == check]
        assert len(found) == count and {s["state"] for s in found} == {"ok"}, found
    assert all(str(s["ts"]).endswith("Z") for s in samples)
    table = site.nls("check")
    assert table.code == 0 and table.err == ""
    lines = table.out.splitlines()
    assert lines[0] == HEADER
    assert lines[2].split() == ["crest-0001", "Logistics", "Hasselt", "UP", "4/4", "-"]
    assert [line.split()[0] for line in lines[2:]] == SERVERS


def test_a_failure_is_pending_until_the_third_check_confirms_it_and_queues_one_mail(
    site: Site,
) -> None:
    """Both modes advance alert state through the same pipeline: PEND, PEND, then PROB/DOWN with
    the installers' mails in the outbox (no [smtp] here, so they stay pending)."""
    site.sim.fault("crest-0002", "camera_offline", camera=1)
    site.sim.fault("crest-0003", "port_closed")
    statuses = []
    for _ in range(3):
        result = site.nls("check")
        assert result.code == 1, result.err
        rows = {line.split()[0]: line for line in result.out.splitlines()[2:]}
        statuses.append((rows["crest-0002"].split()[3], rows["crest-0003"].split()[3]))
        assert "Eocortex service down" in rows["crest-0003"]
        assert "camera offline" in rows["crest-0002"] and " 3/4 " in rows["crest-0002"]
    assert statuses == [("PEND", "PEND"), ("PEND", "PEND"), ("PROB", "DOWN")]
    states = site.nls(
        "sql",
        "SELECT server, check_name, status, failures FROM alert_state WHERE status <> 'ok' "
        "ORDER BY ALL",
        "--format",
        "csv",
    )
    assert states.code == 0, states.err
    assert states.out.splitlines() == [
        "server,check_name,status,failures",
        "crest-0002,camera,alerting,3",
        "crest-0003,server_online,alerting,3",
    ]
    mails = site.nls("mail", "list", "--format", "json").json_lines()
    assert sorted((m["server"], m["kind"], m["status"], m["tries"]) for m in mails) == [
        ("crest-0002", "alert", "pending", 0),
        ("crest-0003", "alert", "pending", 0),
    ]
    assert site.nls("check", "--server", "crest-0003").code == 1  # still down: no second mail
    assert len(site.nls("mail", "list", "--format", "json").json_lines()) == 2


def test_check_one_server_and_its_exit_status(site: Site) -> None:
    result = site.nls("check", "--server", "crest-0001")
    assert result.code == 0, result.err
    assert "crest-0001" in result.out and "crest-0002" not in result.out
    site.sim.fault("crest-0001", "http_500")
    result = site.nls("check", "--server", "crest-0001", "--all", compare=False)
    assert result.code == 1 and "HTTP 500" in result.out
    result = site.nls("check", "--server", "nope")
    assert (result.code, result.out) == (2, "")
    assert result.err == "nls: no server 'nope'; see `nls config check`\n"


def test_host_checks_fail_for_their_faults(site: Site) -> None:
    site.sim.fault("crest-0001", "cpu_high")
    site.sim.fault("crest-0002", "disk_idle")
    site.sim.fault("crest-0004", "port_closed")  # Eocortex API down, host up
    site.sim.fault("crest-0005", "cpu_spike")
    samples = site.nls("check", "--json").json_lines()
    by = {(s["server"], s["check"]): s for s in samples if s["subject"] == ""}
    cpu = by[("crest-0001", "cpu")]
    assert cpu["state"] == "fail" and "above 98%" in str(cpu["detail"])
    disk = by[("crest-0002", "disk_activity")]
    assert disk["state"] == "fail" and "recording has stopped" in str(disk["detail"])
    service = by[("crest-0004", "server_online")]
    assert service["state"] == "fail" and "Eocortex service down" in str(service["detail"])
    assert by[("crest-0004", "cpu")]["state"] == "ok"
    assert by[("crest-0005", "cpu")]["state"] == "ok", "one spike is not sustained load"


def test_a_host_that_is_off_is_offline_and_its_metrics_unknown(site: Site) -> None:
    site.sim.fault("crest-0003", "host_down")
    samples = site.nls("check", "--server", "crest-0003", "--json", compare=False).json_lines()
    by = {(s["server"], s["check"]): s for s in samples if s["subject"] == ""}
    down = by[("crest-0003", "server_online")]
    assert down["state"] == "fail" and "nothing answers" in str(down["detail"])
    assert by[("crest-0003", "cpu")]["state"] == "unknown"
    assert by[("crest-0003", "disk_activity")]["state"] == "unknown"
    cameras = {s["state"] for s in samples if s["check"] == "camera"}
    assert cameras == {"unknown"}


def test_a_host_that_accepts_but_never_completes_is_not_booted(site: Site) -> None:
    for fault in ("port_closed", "ssh_down", "rdp_silent"):
        site.sim.fault("crest-0002", fault)
    site.sim.fault("crest-0004", "rights_granted")
    result = site.nls(
        "check", "--server", "crest-0002", "--server", "crest-0004", "--json", compare=False
    )
    by = {(s["server"], s["check"]): s for s in result.json_lines() if s["subject"] == ""}
    online = by[("crest-0002", "server_online")]
    assert online["state"] == "fail" and "not booted or hung" in str(online["detail"])
    rights = by[("crest-0004", "video_rights")]
    assert rights["state"] == "fail" and "can view video" in str(rights["detail"])


def test_sql_answers_from_the_store_and_bad_sql_is_bad_input(site: Site) -> None:
    site.nls("check")
    result = site.nls(
        "sql",
        "SELECT server, count(*) AS n FROM samples GROUP BY server ORDER BY server",
        "--format",
        "json",
    )
    assert result.code == 0, result.err
    # two cycles (the first at set-up) x (online, 4 cameras, rights, cpu, disk)
    assert result.json_lines()[0] == {"server": "crest-0001", "n": 16}
    csv_out = site.nls("sql", "SELECT 1 AS a, 'x' AS b, NULL AS c", "--format", "csv")
    assert (csv_out.code, csv_out.out.splitlines()) == (0, ["a,b,c", "1,x,"])
    table = site.nls("sql", "SELECT 1.5::DOUBLE AS a, 'x' AS b UNION ALL SELECT 2, NULL ORDER BY a")
    assert table.out.splitlines() == ["A    B", "---  -", "1.5  x", "2"]
    assert table.err == "(2 rows)\n"
    for bad, words in (
        ("DELETE FROM samples", "read-only"),
        ("SELEC 1", "SQL error"),
        ("SELECT nope FROM samples", "SQL error"),
        ("", "no SQL statement"),
    ):
        refused = site.nls("sql", bad)
        assert (refused.code, refused.out) == (2, ""), (bad, refused)
        assert refused.err.startswith("nls: ") and words in refused.err, (bad, refused.err)
        assert "Traceback" not in refused.err


def test_maintenance_add_list_remove_and_every_bad_input(site: Site) -> None:
    # crest-0003 belongs to a Limburg Security customer: Europe/Amsterdam (UTC+1 in January)
    added = site.nls(
        "maintenance",
        "add",
        "--server",
        "crest-0003",
        "--start",
        "2026-01-01 10:00",
        "--end",
        "2026-01-01 12:00",
        "--reason",
        "cabinet move",
    )
    assert added.code == 0 and added.out.startswith("added maintenance window 1: "), added.err
    weekly = site.nls(
        "maintenance",
        "add",
        "--installer",
        "secutec",
        "--cron",
        "0 2 * * 0",
        "--duration",
        "60",
        "--reason",
        "weekly updates",
    )
    assert weekly.code == 0, weekly.err
    windows = site.nls("maintenance", "list", "--json").json_lines()
    assert [(w["id"], w["scope_kind"], w["scope_id"]) for w in windows] == [
        (1, "server", "crest-0003"),
        (2, "installer", "secutec"),
    ]
    assert windows[0]["starts"] == "2026-01-01T09:00:00+00:00"
    assert (windows[1]["cron"], windows[1]["timezone"]) == ("0 2 * * 0", "Europe/Brussels")
    listed = site.nls("maintenance", "list")
    assert "server crest-0003" in listed.out and "cabinet move" in listed.out
    assert "cron '0 2 * * 0' Europe/Brussels, 60 min" in listed.out
    bad_inputs = [
        (["--server", "ghost"], "no server 'ghost' in "),
        (["--server", "crest-0001", "--customer", "cust-001"], "exactly one of --server"),
        (["--customer", "cust-001", "--start", "tomorrow", "--end", "2026-01-02 00:00"], "start"),
        (["--server", "crest-0001", "--start", "2026-01-02", "--end", "2026-01-01"], "not after"),
        (["--server", "crest-0001", "--start", "2026-01-01", "--end", "2026-01-02",
          "--duration", "5"], "a duration goes with a cron"),
        (["--server", "crest-0001", "--cron", "0 2 * *", "--duration", "5"], "expected 5"),
        (["--server", "crest-0001", "--cron", "0 2 * * 0", "--duration", "5",
          "--timezone", "Mars/Olympus"], "Mars/Olympus"),
    ]  # fmt: skip
    for args, words in bad_inputs:
        refused = site.nls("maintenance", "add", *args, "--reason", "x")
        assert (refused.code, refused.out) == (2, ""), (args, refused)
        assert words in refused.err and "Traceback" not in refused.err, (args, refused.err)
    assert site.nls("maintenance", "remove", "1").out == "removed maintenance window 1\n"
    again = site.nls("maintenance", "remove", "1")
    assert (again.code, again.err) == (
        2,
        "nls: no active maintenance window 1; see `nls maintenance list`\n",
    )
    assert len(site.nls("maintenance", "list", "--json").json_lines()) == 1


def test_mail_list_of_an_empty_outbox(site: Site) -> None:
    result = site.nls("mail", "list")
    assert (result.code, result.err) == (0, "")
    columns = ["CREATED", "STATUS", "KIND", "SERVER", "TO", "SUBJECT", "TRIES", "ERROR"]
    assert result.out.split() == [*columns, *("-" * len(c) for c in columns)]
    assert site.nls("mail", "list", "--limit", "0").code == 2


def test_global_options_are_accepted_before_and_after_the_command(site: Site) -> None:
    before = nls("--config", str(site.config), "sql", "SELECT 42 AS x", "--format", "csv")
    assert (before.code, before.out) == (0, "x\n42\n"), before.err
    after = site.nls("sql", "SELECT 42 AS x", "--format", "csv")
    assert after == before
    socket_path = site.folder / "site.duckdb.sock"
    named = nls("sql", "SELECT 1 AS x", "--config", str(site.config), "--socket", str(socket_path))
    if site.mode == "attached":
        assert named.code == 0, named.err
        stale = site.folder / "nobody.sock"
        other = nls("sql", "SELECT 1", "--config", str(site.config), "--socket", str(stale))
        assert other.code == 3 and "in use by another nls process" in other.err  # embedded
    else:
        assert named.code == 0, named.err  # no daemon there: embedded
    help_text = nls("config", "check", "--help").out
    assert "--config FILE" in help_text and "--socket PATH" in help_text


def test_config_check_summary_warnings_and_errors(tmp_path: Path) -> None:
    example = ROOT / "config.example.toml"
    env_ok = nls("config", "check", "--config", str(example))
    # the example reads its password from NLS_EOCORTEX_PASSWORD, which is unset here
    assert env_ok.code == 2 and "NLS_EOCORTEX_PASSWORD" in env_ok.err
    os.environ["NLS_EOCORTEX_PASSWORD"] = "secret-for-test"
    try:
        ok = nls("config", "check", "--config", str(example))
    finally:
        del os.environ["NLS_EOCORTEX_PASSWORD"]
    assert ok.code == 0, ok.err
    assert "3 installers, 8 customers, 20 servers" in ok.out
    assert "alert after 3 failed checks (within 45 min of a fault)" in ok.out
    assert "nls: warning: no [smtp] table: no mail will be sent" in ok.err
    assert "secret-for-test" not in ok.out + ok.err
    bare = tmp_path / "bare.toml"
    bare.write_text(
        '[ssh]\nenabled = false\n[[installers]]\nid = "i1"\nname = "I"\nemails = ["a@b.be"]\n'
        '[[customers]]\nid = "c1"\nname = "C"\ninstaller = "i1"\n'
        '[[servers]]\nid = "s1"\ncustomer = "c1"\naddress = "127.0.0.9"\n'
        '[[installers]]\nid = "i2"\nname = "Idle"\nemails = ["b@b.be"]\n',
        encoding="utf-8",
    )
    warned = nls("config", "check", "--config", str(bare))
    assert warned.code == 0 and warned.out.startswith(f"{bare}: OK (")
    for words in (
        "no [smtp] table",
        "SSH is off for every server ([ssh] enabled = false)",
        "no Eocortex password",
        "installer 'i2' has no customers",
    ):
        assert words in warned.err, warned.err
    empty = tmp_path / "empty.toml"
    empty.write_text("", encoding="utf-8")
    assert "no servers" in nls("config", "check", "--config", str(empty)).err
    bad = tmp_path / "bad.toml"
    bad.write_text("[monitor]\nintervall = 5\n", encoding="utf-8")
    result = nls("config", "check", "--config", str(bad))
    assert result.code == 2
    assert result.err == f"nls: {bad}: monitor.intervall: unknown key; check the spelling " + (
        "against config.example.toml\n"
    )


def test_fault_and_heal_say_what_they_did(sim: Simulator) -> None:
    port = ["--control-port", str(sim.control_port)]
    result = nls("fault", "crest-0003", "camera_offline", "--camera", "2", *port)
    assert result.out == (
        "crest-0003: camera_offline set on camera 2; active faults: camera_offline (camera 2)\n"
    )
    result = nls("fault", "crest-0001", "port_closed", "--json", *port)
    assert json.loads(result.out)["server"]["faults"] == ["port_closed"]
    result = nls("fault", "crest-0001", "port_closed", "--off", *port)
    assert result.out == "crest-0001: port_closed cleared; active faults: none\n"
    assert nls("heal", "crest-0003", *port).out == "crest-0003: every fault cleared\n"
    assert nls("heal", *port).out == "every server healed\n"
    unknown = nls("fault", "crest-0001", "melted", *port)
    assert unknown.code == 2 and "unknown fault 'melted'" in unknown.err
    ghost = nls("fault", "crest-0099", "hang", *port)
    assert ghost.code == 2 and "crest-0099" in ghost.err
    nobody = nls("heal", "--control-port", str(free_port()))
    assert nobody.code == 1 and "is `nls simulate` running" in nobody.err


def test_a_port_clash_names_the_options_that_avoid_it(sim: Simulator, tmp_path: Path) -> None:
    taken = nls(
        "simulate", "--servers", "1", "--http-port", "0", "--control-port", str(sim.control_port)
    )
    assert taken.code == 1 and "--control-port" in taken.err, taken.err
    with socket.socket() as holder:
        holder.bind(("127.79.0.1", 0))
        holder.listen()
        port = str(holder.getsockname()[1])
        clash = nls("simulate", "--servers", "1", "--base", "127.79.0.1", "--http-port", port)
    assert clash.code == 1 and f"cannot listen on 127.79.0.1:{port}" in clash.err
    assert "--base" in clash.err and "Traceback" not in clash.err


def test_version_and_help() -> None:
    assert nls("--version").out.startswith("nls, version ")
    for command in ("check", "sql", "simulate", "config", "fault", "demo", "maintenance"):
        result = nls(command, "--help")
        assert result.code == 0 and "Usage:" in result.out
    check_help = nls("check", "--help").out
    assert "without one, this process runs it and the mail waits in the outbox" in " ".join(
        check_help.split()
    )


def test_demo_once_prints_one_cycle_even_on_a_tiny_fleet() -> None:
    result = nls("demo", "--once", "--servers", "2")
    assert result.code == 0, result.err
    assert "crest-0002" in result.out and "camera offline" in result.out
    assert " PEND " in result.out  # a first failure is pending, as on the grid
    assert "Traceback" not in result.err


def test_every_option_of_every_command_says_what_it_does() -> None:
    import click

    from console.cli import main

    def commands(group: click.Group, prefix: str) -> Iterator[tuple[str, click.Command]]:
        for name, command in group.commands.items():
            yield f"{prefix} {name}", command
            if isinstance(command, click.Group):
                yield from commands(command, f"{prefix} {name}")

    for name, command in [("nls", main), *commands(main, "nls")]:
        assert command.help, name
        for param in command.params:
            if isinstance(param, click.Option) and param.name != "version":
                assert param.help, f"{name} {param.opts[0]}"


def test_nls_is_on_the_path_of_the_venv() -> None:
    """The README's `nls ...` commands work as `.venv/bin/nls` after `bash run.sh demo`."""
    script = Path(sys.executable).with_name("nls")
    if not script.exists() and shutil.which("nls") is None:
        pytest.skip("nls is not installed as a script in this environment")
    done = subprocess.run(
        [str(script) if script.exists() else "nls", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0 and done.stdout.startswith("nls, version")
