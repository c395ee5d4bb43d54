"""Where the daemon's socket lives, who owns the database, and how the daemon logs.

The socket sits beside the database (`<database>.sock`) so that every process configured for the
same file finds the same daemon without another setting. Unix socket paths are limited to about
107 bytes; a longer one is replaced by a short hashed name in $XDG_RUNTIME_DIR (else /tmp), and a
pointer file beside the database says where it went, because a client may run in a login whose
$XDG_RUNTIME_DIR differs from the daemon's.

Ownership is an flock on `<database>.lock`: the kernel drops it when the process dies, even by
SIGKILL, so a crashed daemon never blocks its successor, while a running one always refuses a
second.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

from console.errors import AlreadyRunning

SOCKET_ENV = "NLS_SOCKET"
MAX_SOCKET_PATH = 107
_POINTER_SUFFIX = ".sock.path"


def default_socket(database: Path) -> Path:
    return database.with_name(database.name + ".sock")


def pointer_file(database: Path) -> Path:
    return database.with_name(database.name + _POINTER_SUFFIX)


def short_socket(database: Path) -> Path:
    """A short, stable name for a database whose own socket path would be too long."""
    digest = hashlib.sha256(str(database.resolve()).encode()).hexdigest()[:16]
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    folder = Path(runtime) if runtime and Path(runtime).is_dir() else Path(tempfile.gettempdir())
    return folder / f"nls-{os.getuid()}-{digest}.sock"


def fits(path: Path) -> bool:
    return len(os.fsencode(path)) <= MAX_SOCKET_PATH


def bind_path(database: Path, configured: Path | None = None) -> Path:
    """Where a daemon for `database` listens: configured, else beside it, else a short name."""
    configured = configured or _env_socket()
    if configured is not None:
        if not fits(configured):
            raise ValueError(
                f"socket path {configured} is longer than {MAX_SOCKET_PATH} bytes; choose a "
                "shorter one"
            )
        return configured
    beside = default_socket(database)
    return beside if fits(beside) else short_socket(database)


def publish_pointer(database: Path, socket_path: Path) -> None:
    """Leave the pointer file when the socket is not where clients look first."""
    pointer = pointer_file(database)
    if socket_path == default_socket(database):
        with contextlib.suppress(FileNotFoundError):
            pointer.unlink()
        return
    tmp = pointer.with_name(pointer.name + ".tmp")
    tmp.write_text(str(socket_path) + "\n", encoding="utf-8")
    tmp.chmod(0o644)  # clients of every account look here; it holds a path, nothing else
    os.replace(tmp, pointer)


def candidate_sockets(database: Path, configured: Path | None = None) -> list[Path]:
    """Where a client looks for the daemon of `database`, most explicit first."""
    configured = configured or _env_socket()
    if configured is not None:
        return [configured]
    found: list[Path] = []
    with contextlib.suppress(OSError):
        text = pointer_file(database).read_text(encoding="utf-8").strip()
        if text:
            found.append(Path(text))
    beside = default_socket(database)
    found.append(beside if fits(beside) else short_socket(database))
    return list(dict.fromkeys(found))


def answers(path: Path, timeout: float = 2.0) -> bool:
    """Whether something accepts connections on the unix socket `path` (a live daemon), as
    opposed to no file or a stale one left by a killed daemon."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(timeout)
    try:
        probe.connect(str(path))
    except OSError:
        return False
    finally:
        probe.close()
    return True


def _env_socket() -> Path | None:
    value = os.environ.get(SOCKET_ENV)
    return Path(value) if value else None


class InstanceLock:
    """An exclusive flock on `<database>.lock`, holding the owner's pid for the error message."""

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o660)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AlreadyRunning(self._refusal()) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def owner(self) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            return int(self.path.read_text(encoding="utf-8").strip())
        return None

    def _refusal(self) -> str:
        pid = self.owner()
        who = f"process {pid}" if pid else "another process"
        return (
            f"another nls daemon ({who}) already owns {self.path.with_suffix('')}; one daemon per "
            "database. Attach to it with `nls`, or stop it first."
        )

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


# -- logging -------------------------------------------------------------------------------------

_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class LogfmtFormatter(logging.Formatter):
    """One `key=value` line per record, e.g. `level=info event=cycle servers=20 ms=412`.

    Fields come from `extra=`; free-text records keep their message as `msg=`. Under journald
    (which stamps every line itself) the timestamp is left out.
    """

    def __init__(self, *, timestamps: bool = True) -> None:
        super().__init__()
        self.timestamps = timestamps

    def format(self, record: logging.LogRecord) -> str:
        parts: list[str] = []
        if self.timestamps:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            parts.append(f"ts={stamp}.{int(record.msecs):03d}Z")
        parts.append(f"level={record.levelname.lower()}")
        fields = {k: v for k, v in record.__dict__.items() if k not in _RESERVED}
        event = fields.pop("event", None)
        if event is not None:
            parts.append(f"event={_value(event)}")
        else:
            parts.append(f"logger={record.name}")
        parts.extend(f"{k}={_value(v)}" for k, v in fields.items())
        message = record.getMessage()
        if message and message != event:
            parts.append(f"msg={_value(message)}")
        if record.exc_info:
            parts.append(f"error={_value(self.formatException(record.exc_info))}")
        return " ".join(parts)


def _value(value: Any) -> str:
    text = f"{value:.6g}" if isinstance(value, float) else str(value)
    if text and not any(c in text for c in ' "=\n\t\\'):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", " ")
    return f'"{escaped}"'


def setup_logging(level: str = "info", stream: TextIO | None = None) -> None:
    """Log records as logfmt lines on stderr; httpx and friends only from warnings up."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(LogfmtFormatter(timestamps="JOURNAL_STREAM" not in os.environ))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "asyncssh", "apscheduler", "aiosmtplib", "mail.log"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def event(logger: logging.Logger, name: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one structured event: `event(log, "cycle", servers=20, ms=412)`."""
    logger.log(level, name, extra={"event": name, **fields})
