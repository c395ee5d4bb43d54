"""`nls ssh-session`: the forced command of installer SSH logins (see console/sshgate.py)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click


@click.command("ssh-session")
@click.pass_obj
def ssh_session(obj: object) -> None:
    """Serve one SSH login as sshd's ForceCommand: the console, or one allowed command from
    SSH_ORIGINAL_COMMAND (mail list, maintenance list, whoami), through the daemon only.

    Needs the daemon's socket (`nls --socket PATH ssh-session`, or NLS_SOCKET); it never reads
    the configuration nor opens the database. See deploy/sshd-nls.conf.
    """
    from console.sshgate import GateError, session

    socket = getattr(obj, "socket", None)
    if socket is None:
        click.echo(
            "nls: ssh-session needs the daemon's socket: nls --socket PATH ssh-session", err=True
        )
        sys.exit(2)
    try:
        code = session(Path(socket), os.environ.get("SSH_ORIGINAL_COMMAND"))
    except GateError as exc:
        click.echo(f"nls: {exc}", err=True)
        sys.exit(exc.code)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(code)
