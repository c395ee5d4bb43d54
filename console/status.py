"""The one status vocabulary of a server, shared by the grid, `nls check` and the daemon.

A failure below the alert threshold is `pending` (PEND); `problem` (PROB) and `down` (DOWN) mean
confirmed: the same check that mails the installer. Every view prints these words, so the grid
and the command line never disagree about the same sample.
"""

from __future__ import annotations

from typing import Literal

Status = Literal["up", "pending", "problem", "down", "quiet", "maintenance", "unknown"]

# Most severe first: the grid sorts by this order and counts follow it.
STATUSES: tuple[Status, ...] = (
    "down",
    "problem",
    "pending",
    "unknown",
    "maintenance",
    "quiet",
    "up",
)
SEVERITY: dict[str, int] = {status: rank for rank, status in enumerate(STATUSES)}
WORD: dict[str, str] = {
    "up": "UP",
    "pending": "PEND",
    "problem": "PROB",
    "down": "DOWN",
    "quiet": "QUIET",
    "maintenance": "MAINT",
    "unknown": "UNKN",
}
GLYPH: dict[str, str] = {
    "up": "●",
    "pending": "◔",
    "problem": "▲",
    "down": "✖",
    "quiet": "◌",
    "maintenance": "⚒",
    "unknown": "?",
}
LABEL: dict[str, str] = {status: f"{GLYPH[status]} {WORD[status]}" for status in STATUSES}
PROBLEM_STATUSES: frozenset[Status] = frozenset({"pending", "problem", "down"})
QUIET_STATUSES: frozenset[Status] = frozenset({"quiet", "maintenance"})
