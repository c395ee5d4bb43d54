"""Installers over SSH, against the real OpenSSH server: deploy/sshd-nls.conf as shipped (only its
group, command and socket adapted to this checkout) in front of a real daemon.

An installer's account logs in with its key and gets its own scoped `mail list`, maintenance and
identity; it cannot get a shell, another command, SQL, or another installer's data, neither
through SSH nor with a raw socket client running as that account; an account without a role is
refused with one line.
"""

from __future__ import annotations

import os
import shlex
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from tests.realservers import SSHD, require_binary, start_on_free_port, stop, write_key
from tests.test_access import open_site, raw_as, run_as
from tests.test_daemon import ROOT, site
from tests.unixusers import ALPHA, BETA, NOBODY, PYTHON, SSH_GROUP, USERS, env, require_users

__all__ = ["site"]
DEPLOYED = ROOT / "deploy" / "sshd-nls.conf"


def sshd_config(folder: Path, keys: Path, port: int, sock: Path) -> str:
    """A loopback sshd with per-user key files, plus the shipped Match block for our group."""
    shipped = DEPLOYED.read_text()
    assert "Match Group nls-installers" in shipped and "ssh-session" in shipped
    variables = " ".join(f"{k}={shlex.quote(v)}" for k, v in env().items())
    command = f"env {variables} {PYTHON} -m console.cli --socket {sock} ssh-session"
    shipped = shipped.replace("Match Group nls-installers", f"Match Group {SSH_GROUP}")
    shipped = shipped.replace(
        "ForceCommand /opt/nls/.venv/bin/nls --socket /run/nls/nls.sock ssh-session",
        f"ForceCommand {command}",
    )
    assert command in shipped, "deploy/sshd-nls.conf changed: adapt this test"
    return (
        f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {folder / 'host_ed25519'}\n"
        f"PidFile {folder / 'sshd.pid'}\nAuthorizedKeysFile {keys}/%u\n"
        "UsePAM no\nStrictModes no\nPubkeyAuthentication yes\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUseDNS no\nLogLevel ERROR\n"
        f"AllowUsers {' '.join(USERS)}\n" + shipped
    )


@pytest.fixture
def installer_sshd(tmp_path: Path) -> Iterator[Any]:
    """Starts sshd once the daemon's socket is known: `start(sock) -> port`."""
    sshd = require_binary(SSHD)
    require_users()
    # sshd reads authorized keys as the user: they live where every account may look.
    keys = Path(tempfile.mkdtemp(prefix="nls-keys-", dir="/tmp"))
    keys.chmod(0o755)
    write_key(tmp_path / "host_ed25519")
    for user in USERS:
        key = write_key(tmp_path / f"{user}_ed25519")
        (keys / user).write_text(key.export_public_key("openssh").decode())
        (keys / user).chmod(0o644)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    procs = []

    def start(sock: Path) -> int:
        def command(port: int) -> list[str]:
            (tmp_path / "sshd_config").write_text(sshd_config(tmp_path, keys, port, sock))
            return [sshd, "-D", "-e", "-f", str(tmp_path / "sshd_config")]

        proc, port = start_on_free_port(
            command, tmp_path / "sshd.log", lambda log: "Address already in use" in log
        )
        procs.append(proc)
        return port

    try:
        yield start, tmp_path
    finally:
        for proc in procs:
            stop(proc)
        shutil.rmtree(keys, ignore_errors=True)


async def ssh(folder: Path, port: int, user: str, command: str | None) -> Any:
    async with asyncssh.connect(
        "127.0.0.1",
        port,
        username=user,
        client_keys=[str(folder / f"{user}_ed25519")],
        known_hosts=None,
        agent_path=None,
    ) as conn:
        return await conn.run(command, check=False, timeout=120)


async def test_an_installer_logs_in_over_ssh_and_sees_only_its_own(
    site: Any, installer_sshd: Any
) -> None:
    start, folder = installer_sshd
    s, sock = await open_site(site)
    port = start(sock)

    mails = await ssh(folder, port, ALPHA, "mail list")
    assert mails.exit_status == 0, mails.stderr
    assert "crest-0001" in mails.stdout and "crest-0002" not in mails.stdout
    assert "SUBJECT" in mails.stdout.splitlines()[0]
    who = await ssh(folder, port, BETA, "whoami")
    assert who.stdout.strip() == f"{BETA} (installer, alarmes-wallonie)", who.stderr
    listed = await ssh(folder, port, ALPHA, "maintenance list")
    assert listed.exit_status == 0 and "RECORDED" in listed.stdout

    # Whatever the client asks for, sshd runs the forced command, which refuses the rest.
    for attempt in ("cat /etc/passwd", "sql 'SELECT * FROM outbox'", "sh -c id", "mail list; id"):
        result = await ssh(folder, port, ALPHA, attempt)
        assert result.exit_status == 2 and "not available over SSH" in result.stderr, attempt
        assert "root:" not in result.stdout and "uid=" not in result.stdout
    console = await ssh(folder, port, ALPHA, None)  # no terminal asked for
    assert console.exit_status == 2 and "needs a terminal" in console.stderr

    nobody = await ssh(folder, port, NOBODY, "mail list")
    assert nobody.exit_status == 2 and "has no role" in nobody.stderr and not nobody.stdout

    # The same account with a raw socket client: its scope, no SQL, no other installer.
    welcome, sql, other = await raw_as(
        ALPHA,
        sock,
        [
            {"hello": None},
            {"call": "sql", "args": {"query": "SELECT * FROM outbox"}},
            {"call": "history", "args": {"server_id": "crest-0002", "check": "cpu",
                                          "since": "2020-01-01T00:00:00Z"}},
        ],
    )  # fmt: skip
    assert welcome["r"]["installer"] == "secutec"
    assert sql["e"] == "AccessDenied" and other["e"] == "NotFound"

    # An installer account cannot read the store or the configuration directly either.
    code, _, err = await run_as(ALPHA, "cat", str(s.database))
    assert code != 0 and "Permission denied" in err
    assert os.stat(s.database).st_mode & 0o077 == 0
