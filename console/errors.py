"""Every failure nls explains to a person, under one base class that carries the exit status.

The CLI turns any `NlsError` into one line and its `exit_code` in a single `except`; the daemon's
wire protocol carries these errors by class name, so a command attached to a daemon fails exactly
as the same command run embedded. Nothing here imports the store, the engine or a driver.
"""

from __future__ import annotations

from typing import ClassVar

EXIT_OK = 0
EXIT_FAILED = 1  # a check failed, or a runtime error (daemon gone, port taken, ...)
EXIT_USAGE = 2  # bad input: options, configuration, SQL, unknown ids
EXIT_LOCKED = 3  # the database is held by another process
EXIT_MONITOR = 4  # the monitor itself failed (nls check): its samples are unknown, ops alarmed
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT), as a shell reports it


class NlsError(Exception):
    """A failure already phrased for the person who has to act on it."""

    exit_code: ClassVar[int] = EXIT_FAILED
    hint: ClassVar[str] = ""
    """Appended by the CLI after the message: what to do next, when the message cannot know."""

    by_name: ClassVar[dict[str, type[NlsError]]] = {}
    """Every subclass by class name: how the wire rebuilds an error raised in the daemon."""

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        NlsError.by_name[cls.__name__] = cls

    def __str__(self) -> str:
        # KeyError would quote its argument; every NlsError prints its message as written.
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()


class UsageError(NlsError):
    """Bad input: an option, an argument or an id that does not exist."""

    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """A configuration problem naming the file, key path or CSV line and what to do."""


class BadRequest(UsageError, ValueError):
    """A request a source cannot take: an unknown method, a missing, unknown or out-of-bounds
    argument, another protocol version (still a ValueError for callers that catch one)."""


class NotFound(UsageError, KeyError):
    """No such server, installer, window, ... (still a KeyError for callers that catch one)."""


class AccessDenied(UsageError):
    """The caller's scope does not allow this (e.g. SQL in an installer-scoped console)."""


class NoRole(AccessDenied):
    """The account has no role in the configuration's [access] section (see console.identity)."""


class MaintenanceError(UsageError, ValueError):
    """A maintenance window that cannot be used; the message says which field and why."""


class StoreError(NlsError):
    """A store problem phrased for the operator."""


class StoreLockedError(StoreError):
    """The database file is held by another process (DuckDB allows one)."""

    exit_code = EXIT_LOCKED


class ReadOnlyError(StoreError):
    """A statement that would write, refused before it ran."""

    exit_code = EXIT_USAGE


class QueryError(StoreError):
    """SQL that DuckDB cannot parse or bind: bad input, like any other."""

    exit_code = EXIT_USAGE


class QueryStopped(StoreError):
    """A client statement interrupted before it finished: its time limit ([sql] timeout), the
    client went away, or the daemon is stopping (`reason`: timeout, cancelled, client_gone,
    shutdown; "cancelled" when rebuilt from the wire, where only the message travels)."""

    def __init__(self, message: str, reason: str = "cancelled") -> None:
        super().__init__(message)
        self.reason = reason


class MonitorFault(NlsError):
    """The monitor itself failed (no free file descriptor or port, overload, a failing
    database): the samples it could not take are unknown, which says nothing about the servers.
    The message is the self-health alarm's line."""

    exit_code = EXIT_MONITOR


class AlreadyRunning(NlsError, RuntimeError):
    """Another daemon owns this database."""

    exit_code = EXIT_LOCKED


class DaemonUnavailable(NlsError, ConnectionError):
    """The daemon is not there (any more); the operator may retry or run without it."""

    hint = "is `nls --daemon` still running?"


class RemoteError(NlsError, RuntimeError):
    """An unexpected failure inside the daemon; the daemon's log has the details."""

    hint = "see the daemon's log"


class SimulatorError(NlsError):
    """The simulator cannot start or refused a control command."""
