"""The open-file budget: what the monitor may hold open, derived from the process limit.

Every kept-open SSH connection, every probe in flight, the database and every console attached
to the daemon costs a file descriptor, and the process limit (`ulimit -n`, systemd's
LimitNOFILE) is hard. Running out turns probes into errors; so the plan is made at start from
the limit, and a fleet that cannot fit is refused then, with what to change, rather than
discovered by false outages in the middle of the night.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass

from console.config import Config, ConfigError

SHARE = 0.6
"""The part of the limit the plan may use; the rest absorbs what is not planned (sockets in
TIME_WAIT closing, a burst of console clients, DuckDB's temporary files)."""
RESERVE = 64
"""Files nls needs besides probes: database, WAL, log, socket, parser worker, SMTP."""
CLIENTS = 128
"""Consoles and commands attached to the daemon at once."""
FILES_PER_PROBE = 3
"""A probe in flight: one Eocortex connection (its requests go one after another), one RDP
handshake and one SSH connection when it is not kept open."""


class BudgetError(ConfigError):
    """The fleet does not fit the process's open-file limit (exit 2, like a config error)."""


@dataclass(frozen=True, slots=True)
class FileBudget:
    limit: int
    usable: int
    reserve: int
    in_flight: int
    ssh_kept: int
    """Kept-open SSH connections planned (one per server that keeps its connection)."""

    @property
    def planned(self) -> int:
        return self.reserve + self.in_flight + self.ssh_kept

    def describe(self) -> str:
        return (
            f"open files: {self.planned} planned of {self.limit} allowed "
            f"({self.reserve} for nls, {self.in_flight} for probes in flight, "
            f"{self.ssh_kept} kept-open SSH connections)"
        )


def nofile_limit() -> int:
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def plan_files(config: Config, keep_open: int, limit: int | None = None) -> FileBudget:
    """The budget for `config` with `keep_open` servers keeping their SSH connection open;
    raises BudgetError (naming the numbers and the settings to change) when it cannot fit."""
    limit = nofile_limit() if limit is None else limit
    usable = int(limit * SHARE)
    concurrency = min(config.monitor.concurrency, max(1, len(config.servers)))
    reserve = RESERVE + CLIENTS
    in_flight = concurrency * FILES_PER_PROBE
    budget = FileBudget(limit, usable, reserve, in_flight, keep_open)
    if reserve + in_flight > usable:
        most = max(1, (usable - reserve) // FILES_PER_PROBE)
        raise BudgetError(
            f"{config.source}: [monitor] concurrency = {config.monitor.concurrency} needs "
            f"{in_flight} open files for probes in flight plus {reserve} for nls, more than "
            f"{usable} ({SHARE:.0%} of this process's open-file limit {limit}); set "
            f"concurrency to at most {most}, or raise the limit (ulimit -n, or LimitNOFILE= in "
            "the systemd unit)"
        )
    if budget.planned > usable:
        room = max(0, usable - reserve - in_flight)
        raise BudgetError(
            f"{config.source}: {keep_open} servers keep an SSH connection open ([ssh] "
            f"keep_open), one open file each, but only {room} fit in {SHARE:.0%} of this "
            f"process's open-file limit {limit} after {in_flight} for probes in flight and "
            f"{reserve} for nls; set keep_open = false (connect per probe) for the whole fleet "
            "or some servers, lower [monitor] concurrency, or raise the limit (ulimit -n, or "
            "LimitNOFILE= in the systemd unit)"
        )
    return budget
