"""`nls ssh-session`: the forced command of installer SSH logins (see console/sshgate.py)."""

from __future__ import annotations

import os
import sys

import click

from console.cli.main import Context, standalone
from console.errors import UsageError


@standalone
@click.command("ssh-session")
@click.pass_obj
def ssh_session(obj: Context) -> None:
    """Serve one SSH login as sshd's ForceCommand: the console, or one allowed command from
    SSH_ORIGINAL_COMMAND (mail list, maintenance list, whoami), through the daemon only.

    Needs the daemon's socket (`nls --socket PATH ssh-session`, or NLS_SOCKET); it never reads
    the configuration nor opens the database. See deploy/sshd-nls.conf.
    """
    from console.sshgate import session

    if obj.socket is None:
        raise UsageError("ssh-session needs the daemon's socket: nls --socket PATH ssh-session")
    sys.exit(session(obj.socket, os.environ.get("SSH_ORIGINAL_COMMAND")))
