"""The one clock: aware UTC `datetime`s. Everything stored is UTC; zones apply at the edges.

Components take a `Clock` argument defaulting to `utcnow`, so tests and snapshots freeze time by
passing their own function instead of patching this module.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)
