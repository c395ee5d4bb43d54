"""A check interval under which no scheduled cycle can land in the middle of a test."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from console.monitor.service import SLOT_SECONDS, phase

QUIET = "quiet"
"""Pass as the interval to the `site` fixture (tests/test_daemon.py) for `quiet_interval`."""


def quiet_interval(servers: Iterable[str], hours: float = 2.0) -> str:
    """An interval under which none of `servers` is due for the next `hours`.

    The daemon's schedule is wall-clock aligned (each server has a fixed slot in the interval),
    and an interval may be at most a day, so with e.g. "1h" a scheduled cycle lands in a slow
    test now and then; among intervals of 12 to 24 hours one always leaves every server's slot
    `hours` away. Only the startup cycle of never-checked servers runs, as with any interval."""
    ids = list(servers)
    elapsed = (datetime.now(UTC) - datetime(2020, 1, 1, tzinfo=UTC)).total_seconds()
    for minutes in range(24 * 60, 12 * 60, -7):
        slots = int(minutes * 60 // SLOT_SECONDS)
        width = minutes * 60 / slots
        ahead = [((phase(s, slots) - elapsed / width) % slots) * width for s in ids]
        if min(ahead) > hours * 3600:
            return f"{minutes}m"
    raise AssertionError(f"no interval of 12 to 24 h keeps every server quiet for {hours} h")
