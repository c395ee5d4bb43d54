"""Where a console keeps its own files: per user, never the current folder.

The console may be started from anywhere (a repository checkout, a home directory over SSH), so
what it writes goes to the XDG directories of the account that runs it: query history under
`$XDG_STATE_HOME/nls`, exports under `$XDG_DATA_HOME/nls/exports` unless `NLS_EXPORT_DIR` names
another folder.
"""

from __future__ import annotations

import os
from pathlib import Path


def state_dir() -> Path:
    """Per-user state (SQL history): `$XDG_STATE_HOME/nls`, default `~/.local/state/nls`."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "nls"


def export_dir() -> Path:
    """Where the console's exports go: `$NLS_EXPORT_DIR`, else `$XDG_DATA_HOME/nls/exports`
    (default `~/.local/share/nls/exports`)."""
    chosen = os.environ.get("NLS_EXPORT_DIR")
    if chosen:
        return Path(chosen).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "nls" / "exports"
