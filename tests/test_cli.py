"""`nls simulate`, `check`, `sql` and `config check` end to end, as separate processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

NLS = [sys.executable, "-m", "console.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def nls(*args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NLS_CONFIG": ""}
    result = subprocess.run(
        [*NLS, *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )
    if check and result.returncode not in (0, 1):
        raise AssertionError(f"nls {' '.join(args)} exited {result.returncode}: {result.stderr}")
    return result


class Sim:
    def __init__(self, config: Path, control_port: int) -> None:
        self.config = config
        self.control_port = control_port

    def fault(self, *args: str) -> None:
        result = nls("fault", *args, "--control-port", str(self.control_port))
        assert result.returncode == 0, result.stderr

    def check(self, *args: str) -> list[dict[str, object]]:
        result = nls("--config", str(self.config), "check", "--json", *args, check=True)
        return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Sim]:
    config = tmp_path / "f.toml"
    port = free_port()
    proc = subprocess.Popen(
        [
            *NLS,
            "simulate",
            "--servers",
            "5",
            "--cameras",
            "4",
            "--write-config",
            str(config),
            "--control-port",
            str(port),
            "--http-port",
            "0",
            "--base",
            "127.78.0.1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.strip() == "ready":
                break
        else:
            pytest.fail(f"simulator exited {proc.wait()} before it was ready")
        yield Sim(config, port)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:  # a hung simulator must not outlive the test
            proc.kill()
            proc.wait()


def test_check_prints_a_sample_for_every_server_and_camera(sim: Sim) -> None:
    samples = sim.check()
    assert {s["server"] for s in samples} == {f"crest-{n:04d}" for n in range(1, 6)}
    assert set(samples[0]) == {"ts", "server", "check", "subject", "state", "value", "detail"}
    online = [s for s in samples if s["check"] == "server_online"]
    cameras = [s for s in samples if s["check"] == "camera"]
    assert len(online) == 5 and all(s["state"] == "ok" for s in online)
    assert len(cameras) == 20 and all(s["state"] == "ok" for s in cameras)
    for check in ("cpu", "disk_activity", "video_rights"):
        found = [s for s in samples if s["check"] == check]
        assert len(found) == 5 and all(s["state"] == "ok" for s in found), found
    assert all(str(s["ts"]).endswith("Z") for s in samples)


def test_faults_show_as_fail_with_a_readable_detail(sim: Sim) -> None:
    sim.check()  # learn the cameras first, so an unreachable server's cameras become unknown
    sim.fault("crest-0002", "camera_offline", "--camera", "1")
    sim.fault("crest-0003", "port_closed")
    sim.fault("crest-0004", "rights_granted")
    samples = sim.check()
    by = {(s["server"], s["check"], s["subject"]): s for s in samples}
    offline = [s for s in samples if s["server"] == "crest-0002" and s["state"] == "fail"]
    assert len(offline) == 1 and "camera offline" in str(offline[0]["detail"])
    down = by[("crest-0003", "server_online", "")]
    assert down["state"] == "fail" and "connection refused" in str(down["detail"])
    assert {
        s["state"] for s in samples if s["server"] == "crest-0003" and s["check"] == "camera"
    } == {"unknown"}
    rights = by[("crest-0004", "video_rights", "")]
    assert rights["state"] == "fail" and "can view video" in str(rights["detail"])


def test_check_one_server_and_exit_status(sim: Sim) -> None:
    result = nls("--config", str(sim.config), "check", "--server", "crest-0001")
    assert result.returncode == 0, result.stderr
    assert "crest-0001" in result.stdout and "crest-0002" not in result.stdout
    sim.fault("crest-0001", "http_500")
    result = nls("--config", str(sim.config), "check", "--server", "crest-0001")
    assert result.returncode == 1
    assert "HTTP 500" in result.stdout
    result = nls("--config", str(sim.config), "check", "--server", "nope")
    assert result.returncode == 2 and "unknown server nope" in result.stderr


def test_sql_answers_from_stored_samples_and_refuses_writes(sim: Sim) -> None:
    sim.check()
    sim.check()
    result = nls(
        "--config",
        str(sim.config),
        "sql",
        "SELECT server, count(*) AS n FROM samples GROUP BY server ORDER BY server",
        "--format",
        "json",
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows[0] == {
        "server": "crest-0001",
        "n": 16,
    }  # 2 cycles x (online, 4 cameras, rights, cpu, disk)
    csv_out = nls("--config", str(sim.config), "sql", "SELECT 1 AS a, 'x' AS b", "--format", "csv")
    assert csv_out.stdout.splitlines() == ["a,b", "1,x"]
    refused = nls("--config", str(sim.config), "sql", "DELETE FROM samples")
    assert refused.returncode == 2 and "read-only" in refused.stderr
    bad = nls("--config", str(sim.config), "sql", "SELECT nope FROM samples")
    assert bad.returncode == 1 and "SQL error" in bad.stderr


def test_config_check_summary_and_errors(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    env_ok = nls("--config", str(root / "config.example.toml"), "config", "check")
    # the example reads its password from NLS_EOCORTEX_PASSWORD, which is unset here
    assert env_ok.returncode == 2 and "NLS_EOCORTEX_PASSWORD" in env_ok.stderr
    os.environ["NLS_EOCORTEX_PASSWORD"] = "secret-for-test"
    try:
        ok = nls("--config", str(root / "config.example.toml"), "config", "check")
    finally:
        del os.environ["NLS_EOCORTEX_PASSWORD"]
    assert ok.returncode == 0, ok.stderr
    assert "3 installers, 8 customers, 20 servers" in ok.stdout
    assert "secret-for-test" not in ok.stdout + ok.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text("[monitor]\nintervall = 5\n", encoding="utf-8")
    result = nls("--config", str(bad), "config", "check")
    assert result.returncode == 2
    assert f"{bad}: monitor.intervall: unknown key" in result.stderr
    assert "Traceback" not in result.stderr


def test_version_and_help() -> None:
    assert nls("--version").stdout.startswith("nls, version ")
    for command in ("check", "sql", "simulate", "config", "fault", "demo"):
        result = nls(command, "--help")
        assert result.returncode == 0 and "Usage:" in result.stdout


def test_host_checks_fail_for_their_faults(sim: Sim) -> None:
    sim.check()
    sim.fault("crest-0001", "cpu_high")
    sim.fault("crest-0002", "disk_idle")
    sim.fault("crest-0003", "host_down")
    sim.fault("crest-0004", "port_closed")  # Eocortex API down, host up
    sim.fault("crest-0005", "cpu_spike")
    samples = sim.check()
    by = {(s["server"], s["check"]): s for s in samples if s["subject"] == ""}
    cpu = by[("crest-0001", "cpu")]
    assert cpu["state"] == "fail" and "above 98%" in str(cpu["detail"])
    disk = by[("crest-0002", "disk_activity")]
    assert disk["state"] == "fail" and "recording has stopped" in str(disk["detail"])
    down = by[("crest-0003", "server_online")]
    assert down["state"] == "fail" and "nothing answers" in str(down["detail"])
    assert by[("crest-0003", "cpu")]["state"] == "unknown"
    assert by[("crest-0003", "disk_activity")]["state"] == "unknown"
    service = by[("crest-0004", "server_online")]
    assert service["state"] == "fail" and "Eocortex service down" in str(service["detail"])
    assert by[("crest-0004", "cpu")]["state"] == "ok"
    assert by[("crest-0005", "cpu")]["state"] == "ok", "one spike is not sustained load"


def test_host_that_accepts_but_never_completes_is_not_booted(sim: Sim) -> None:
    for fault in ("port_closed", "ssh_down", "rdp_silent"):
        sim.fault("crest-0002", fault)
    samples = sim.check("--server", "crest-0002")
    online = next(s for s in samples if s["check"] == "server_online")
    assert online["state"] == "fail"
    assert "not booted or hung" in str(online["detail"]), online["detail"]


def test_demo_once_prints_one_cycle_even_on_a_tiny_fleet() -> None:
    result = nls("demo", "--once", "--servers", "2")
    assert result.returncode == 0, result.stderr
    assert "crest-0002" in result.stdout and "camera offline" in result.stdout
    assert "Traceback" not in result.stderr


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
