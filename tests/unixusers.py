"""Throwaway Unix accounts for access tests: ops, two installers' staff and one with no role.

Tests that need them call `require_users()`: it creates the accounts when missing (as root) and
skips when the suite does not run as root, except under CI=true where that is a failure, as for
the other real-server tests. `.ci/run` creates them up front (`python -m tests.unixusers`).

Processes run as these accounts through `setpriv` with the system Python 3 and the checkout plus
the virtualenv's packages on PYTHONPATH, because the virtualenv's own interpreter may live in a
home folder other accounts cannot enter.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOCKET_GROUP = "nlst-sock"  # may connect to the daemon's socket
OPS_GROUP = "nlst-opsteam"  # [access] ops_groups
BETA_GROUP = "nlst-betateam"  # [access.installers.alarmes-wallonie] groups
SSH_GROUP = "nlst-inst"  # installers' staff who log in over SSH (sshd Match Group)
OPS, ALPHA, BETA, NOBODY = "nlst-ops", "nlst-alpha", "nlst-beta", "nlst-norole"
USERS: dict[str, tuple[str, ...]] = {
    OPS: (SOCKET_GROUP, OPS_GROUP),
    ALPHA: (SOCKET_GROUP, SSH_GROUP),
    BETA: (SOCKET_GROUP, SSH_GROUP, BETA_GROUP),
    NOBODY: (SOCKET_GROUP, SSH_GROUP),
}
GROUPS = (SOCKET_GROUP, OPS_GROUP, BETA_GROUP, SSH_GROUP)
PYTHON = "/usr/bin/python3"

ACCESS = f"""
[access]
ops_groups = ["{OPS_GROUP}"]
socket_group = "{SOCKET_GROUP}"
socket_mode = 0o660

[access.installers.secutec]
users = ["{ALPHA}"]

[access.installers.alarmes-wallonie]
groups = ["{BETA_GROUP}"]
"""


def _exists(name: str, db: str) -> bool:
    try:
        (pwd.getpwnam if db == "passwd" else grp.getgrnam)(name)
    except KeyError:
        return False
    return True


def create() -> None:
    """Create the groups and accounts that are missing (needs root); unlock their login."""
    for group in GROUPS:
        if not _exists(group, "group"):
            subprocess.run(["groupadd", group], check=True)
    for user, groups in USERS.items():
        if not _exists(user, "passwd"):
            subprocess.run(
                ["useradd", "--create-home", "--shell", "/bin/sh", "--password", "*",
                 "--groups", ",".join(groups), user],
                check=True,
            )  # fmt: skip
        else:
            subprocess.run(
                ["usermod", "--password", "*", "-aG", ",".join(groups), user], check=True
            )


def require_users() -> None:
    """The accounts exist and this process may act as them; else skip (fail under CI)."""
    import pytest

    problem = None
    if os.geteuid() != 0:
        problem = "needs root to create and act as other Unix accounts"
    elif not shutil.which("useradd") or not shutil.which("setpriv"):
        problem = "needs useradd and setpriv"
    elif not Path(PYTHON).exists() or _minor(PYTHON) != sys.version_info[:2]:
        problem = f"needs {PYTHON} of Python {sys.version_info[0]}.{sys.version_info[1]}"
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"access tests: {problem} (CI must provide it)")
        pytest.skip(problem)
    create()


def _minor(python: str) -> tuple[int, int]:
    out = subprocess.run(
        [python, "-c", "import sys; print(*sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return int(out[0]), int(out[1])


def env() -> dict[str, str]:
    """Environment of a process run as another account: this checkout and our packages."""
    packages = sysconfig.get_paths()["purelib"]
    keep = {k: v for k, v in os.environ.items() if k in ("LANG", "LC_ALL", "TZ", "CI")}
    return {
        **keep,
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": f"{ROOT}:{packages}",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "HOME": "/tmp",
    }


def as_user(user: str, *argv: str) -> list[str]:
    """argv run as `user`, with its own primary and supplementary groups."""
    return ["setpriv", f"--reuid={user}", f"--regid={pwd.getpwnam(user).pw_gid}",
            "--init-groups", *argv]  # fmt: skip


def nls_command() -> list[str]:
    """How another account runs nls from this checkout."""
    return [PYTHON, "-m", "console.cli"]


if __name__ == "__main__":
    create()
    print("created:", ", ".join(USERS))
