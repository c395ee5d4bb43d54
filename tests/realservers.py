"""Pytest fixtures that run a real OpenSSH sshd and a real xrdp on 127.0.0.1.

Use from a test module with `pytest_plugins = ["tests.realservers"]`. Each server runs in a
temporary folder with throwaway keys, is awaited by polling its port (no fixed sleeps) and is
stopped at teardown. A missing binary skips the test, except under CI=true where it fails.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncssh
import pytest

SSHD = "/usr/sbin/sshd"
XRDP = "/usr/sbin/xrdp"
XRDP_INI = Path("/etc/xrdp/xrdp.ini")
START_TIMEOUT_S = 15.0


def require_binary(path: str) -> str:
    """Skip when `path` is missing; under CI=true a missing server is a failure, not a skip."""
    found = path if os.access(path, os.X_OK) else shutil.which(Path(path).name)
    if found:
        return found
    if os.environ.get("CI") == "true":
        pytest.fail(f"{path} is required in CI (install it in the CI setup)")
    pytest.skip(f"{path} not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(proc: subprocess.Popen, port: int, log: Path) -> None:
    """Poll-connect until the server listens; fail fast with its log if it exits."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"server did not listen on {port}: {log.read_text()[-2000:]}")


def stop(proc: subprocess.Popen) -> None:
    """Stop the server and everything it forked (it runs in its own session)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def start_on_free_port(
    command: Callable[[int], list[str]],
    log: Path,
    port_taken: Callable[[str], bool],
    cwd: Path | None = None,
) -> tuple[subprocess.Popen, int]:
    """Start `command(port)` (which writes the server's config for that port) on a free port.

    A port found free can be taken before the server binds it: when the server's log says so
    (`port_taken`), try another port, three times in all.
    """
    for _ in range(3):
        port = free_port()
        argv = command(port)
        with log.open("wb") as out:
            proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=cwd
            )
        try:
            wait_for_port(proc, port, log)
        except RuntimeError:
            stop(proc)
            if not port_taken(log.read_text()):
                raise
        else:
            return proc, port
    raise RuntimeError(f"could not find a free port for {Path(argv[0]).name}")


def write_key(path: Path, alg: str = "ssh-ed25519") -> asyncssh.SSHKey:
    key = asyncssh.generate_private_key(alg)
    key.write_private_key(str(path))
    key.write_public_key(str(path) + ".pub")
    path.chmod(0o600)
    return key


@dataclass(frozen=True)
class RealSshd:
    host: str
    port: int
    username: str
    client_key: str
    host_key_pub: str
    known_hosts: str
    other_key_pub: str
    folder: Path


@dataclass(frozen=True)
class RealXrdp:
    host: str
    port: int
    folder: Path


@contextmanager
def running_sshd(sshd: str, d: Path) -> Iterator[RealSshd]:
    """Run sshd from folder `d` (keys, config, log) until the block exits."""
    host_key = write_key(d / "host_ed25519")
    write_key(d / "client_ed25519")
    other = asyncssh.generate_private_key("ssh-ed25519")
    shutil.copy(d / "client_ed25519.pub", d / "authorized_keys")
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    user = os.environ.get("USER") or getpass.getuser()

    def command(port: int) -> list[str]:
        (d / "sshd_config").write_text(
            f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {d / 'host_ed25519'}\n"
            f"PidFile {d / 'sshd.pid'}\nAuthorizedKeysFile {d / 'authorized_keys'}\n"
            "UsePAM no\nStrictModes no\nPermitRootLogin yes\nPasswordAuthentication yes\n"
            "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nUseDNS no\n"
            "MaxStartups 200:30:400\nMaxSessions 50\nLogLevel ERROR\n"
        )
        return [sshd, "-D", "-e", "-f", str(d / "sshd_config")]

    proc, port = start_on_free_port(
        command, d / "sshd.log", lambda log: "Address already in use" in log
    )
    pub = host_key.export_public_key("openssh").decode().strip()
    (d / "known_hosts").write_text(f"[127.0.0.1]:{port} {pub}\n")
    try:
        yield RealSshd(
            host="127.0.0.1",
            port=port,
            username=user,
            client_key=str(d / "client_ed25519"),
            host_key_pub=pub,
            known_hosts=str(d / "known_hosts"),
            other_key_pub=other.export_public_key("openssh").decode().strip(),
            folder=d,
        )
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def real_sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealSshd]:
    """A real sshd on 127.0.0.1 accepting the current user with a throwaway key.

    `known_hosts` trusts its host key; `other_key_pub` is a different key, for "changed key" tests.
    """
    sshd = require_binary(SSHD)
    with running_sshd(sshd, tmp_path_factory.mktemp("sshd")) as server:
        yield server


def xrdp_ini(port: int, folder: Path) -> str:
    """The system xrdp.ini listening on 127.0.0.1:port only, logging into `folder`."""
    out = []
    for line in XRDP_INI.read_text().splitlines():
        key = line.split("=", 1)[0].strip()
        if key == "port":
            line = f"port=tcp://127.0.0.1:{port}"
        elif key == "LogFile":
            line = f"LogFile={folder / 'xrdp.log'}"
        elif key == "EnableSyslog":
            line = "EnableSyslog=false"
        out.append(line)
    return "\n".join(out) + "\n"


@contextmanager
def running_xrdp(xrdp: str, d: Path) -> Iterator[RealXrdp]:
    """Run `xrdp --nodaemon` with its own ini copy (`-c`) in folder `d` until the block exits."""

    def command(port: int) -> list[str]:
        (d / "xrdp.ini").write_text(xrdp_ini(port, d))
        return [xrdp, "--nodaemon", "-c", str(d / "xrdp.ini")]

    proc, port = start_on_free_port(
        command, d / "xrdp.out", lambda log: "in use" in log.lower(), cwd=d
    )
    try:
        yield RealXrdp(host="127.0.0.1", port=port, folder=d)
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def real_xrdp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealXrdp]:
    """A real xrdp on 127.0.0.1 answering the X.224 Connection Request."""
    xrdp = require_binary(XRDP)
    if not XRDP_INI.is_file():
        require_binary(str(XRDP_INI))
    with running_xrdp(xrdp, tmp_path_factory.mktemp("xrdp")) as server:
        yield server
