"""Maintenance windows: when failures are recorded but no alert may be sent.

A window is one-off (`starts`..`ends`) or recurring (a 5-field cron expression in an IANA time
zone plus a duration, optionally bounded by `starts`/`ends`). The reason and the time it was
announced are kept because SLA reports distinguish announced maintenance from outages.

Cron expressions use standard crontab semantics (0 and 7 are Sunday). APScheduler 3 numbers
weekdays from Monday, so the day-of-week field is translated to names before it reaches
`CronTrigger`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

from console.directory import SCOPE_KINDS as SCOPE_KINDS
from console.directory import ScopeKind
from console.errors import MaintenanceError

_DOW_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_MAX_DURATION = timedelta(days=7)
# A search must start before a DST gap to see the occurrence shifted past it.
_DST_MARGIN = timedelta(hours=3)


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    """One row of the `maintenance` table; validated on construction."""

    id: int
    scope_kind: ScopeKind
    scope_id: str
    reason: str
    announced_at: datetime
    created_by: str = ""
    starts: datetime | None = None
    ends: datetime | None = None
    cron: str | None = None
    timezone: str | None = None
    duration_min: int | None = None
    removed_at: datetime | None = None
    recorded_at: datetime | None = None
    """When the store took the window (set by the store, never by a client): an `announced_at`
    or `starts` earlier than this was declared after the fact, and SLA reports show both."""
    removed_by: str | None = None

    def __post_init__(self) -> None:
        validate(self)

    @property
    def recurring(self) -> bool:
        return self.cron is not None

    def occurrence_at(self, at: datetime) -> tuple[datetime, datetime] | None:
        """The (start, end) in UTC of the occurrence covering `at`, if any; end is exclusive."""
        at = _utc(at, "at")
        if self.removed_at is not None and at >= self.removed_at:
            return None
        if not self.recurring:
            assert self.starts is not None and self.ends is not None
            if self.starts <= at < self.ends:
                return self.starts.astimezone(UTC), self.ends.astimezone(UTC)
            return None
        if self.starts is not None and at < self.starts:
            return None
        if self.ends is not None and at >= self.ends:
            return None
        duration = timedelta(minutes=self.duration_min or 0)
        search_from = at - duration - _DST_MARGIN
        for start in _fire_times(self.cron or "", self.timezone or "", search_from):
            if start > at:
                return None
            if start + duration > at:
                return start, start + duration
        return None

    def occurrences(self, since: datetime, until: datetime) -> list[tuple[datetime, datetime]]:
        """Occurrences overlapping [since, until), in UTC; for availability and SLA reports."""
        since, until = _utc(since, "since"), _utc(until, "until")
        limit = until if self.removed_at is None else min(until, self.removed_at)
        if not self.recurring:
            assert self.starts is not None and self.ends is not None
            overlaps = self.starts < limit and self.ends > since
            return [(self.starts.astimezone(UTC), self.ends.astimezone(UTC))] if overlaps else []
        duration = timedelta(minutes=self.duration_min or 0)
        found = []
        for start in _fire_times(
            self.cron or "", self.timezone or "", since - duration - _DST_MARGIN
        ):
            if start >= limit or (self.ends is not None and start >= self.ends):
                break
            if self.starts is not None and start < self.starts:
                continue
            if start + duration > since:
                found.append((start, start + duration))
        return found


def validate(w: MaintenanceWindow) -> None:
    """Raise MaintenanceError naming the first problem with the window's definition."""
    if w.scope_kind not in SCOPE_KINDS:
        raise MaintenanceError(
            f"scope_kind {w.scope_kind!r} is not one of {', '.join(SCOPE_KINDS)}"
        )
    if not w.scope_id:
        raise MaintenanceError("scope_id is empty: name the server, customer or installer")
    if not w.reason.strip():
        raise MaintenanceError("reason is empty: SLA reports need to say why")
    for name in ("announced_at", "starts", "ends", "removed_at", "recorded_at"):
        value = getattr(w, name)
        if value is not None and value.tzinfo is None:
            raise MaintenanceError(f"{name} {value.isoformat()} has no time zone; give UTC")
    if w.starts is not None and w.ends is not None and w.ends <= w.starts:
        raise MaintenanceError(
            f"ends {w.ends.isoformat()} is not after starts {w.starts.isoformat()}"
        )
    if w.cron is None:
        if w.starts is None or w.ends is None:
            raise MaintenanceError("a one-off window needs both starts and ends (or give a cron)")
        if w.timezone is not None or w.duration_min is not None:
            raise MaintenanceError(
                "timezone and duration_min only apply to a recurring window (give a cron)"
            )
        return
    if w.timezone is None:
        raise MaintenanceError("a recurring window needs a timezone, e.g. Europe/Brussels")
    if w.duration_min is None or w.duration_min <= 0:
        raise MaintenanceError(
            f"duration_min must be a positive number of minutes, got {w.duration_min!r}"
        )
    if timedelta(minutes=w.duration_min) > _MAX_DURATION:
        raise MaintenanceError(
            f"duration_min {w.duration_min} is longer than 7 days; use a one-off window"
        )
    trigger(w.cron, w.timezone)


def active_window(
    windows: Iterable[MaintenanceWindow],
    server: str,
    customer: str | None,
    installer: str | None,
    at: datetime,
) -> MaintenanceWindow | None:
    """The window covering `at` for this server, preferring the most specific scope."""
    scopes = {"server": server, "customer": customer, "installer": installer}
    best: MaintenanceWindow | None = None
    for w in windows:
        if scopes.get(w.scope_kind) != w.scope_id or w.occurrence_at(at) is None:
            continue
        if best is None or _rank(w) < _rank(best):
            best = w
    return best


def lookup(
    windows: Iterable[MaintenanceWindow],
    customer_of: Mapping[str, str],
    installer_of: Mapping[str, str],
) -> Callable[[str, datetime], MaintenanceWindow | None]:
    """The (server, at) -> window predicate that `alerting.evaluate` takes."""
    current = list(windows)

    def find(server: str, at: datetime) -> MaintenanceWindow | None:
        return active_window(current, server, customer_of.get(server), installer_of.get(server), at)

    return find


_FIELDS = (
    "id, scope_kind, scope_id, reason, announced_at, created_by, starts, ends, cron, timezone,"
    " duration_min, removed_at, recorded_at, removed_by"
)


class DuckMaintenanceStore:
    """The `maintenance` table; removal only stamps `removed_at` so SLA history keeps the row."""

    def __init__(self, con: Any) -> None:
        self.con = con

    def add(
        self,
        window: MaintenanceWindow,
        *,
        author: str | None = None,
        recorded_at: datetime | None = None,
    ) -> MaintenanceWindow:
        """Store a validated window under the next id (whatever `window.id` says), written by
        `author` (default: `window.created_by`) and recorded now (or at `recorded_at`)."""
        (next_id,) = self.con.execute("SELECT coalesce(max(id), 0) + 1 FROM maintenance").fetchone()
        window = dataclasses.replace(
            window,
            id=next_id,
            created_by=window.created_by if author is None else author,
            recorded_at=recorded_at or datetime.now(UTC),
            removed_at=None,
            removed_by=None,
        )
        names = [f.strip() for f in _FIELDS.split(",")]
        self.con.execute(
            f"INSERT INTO maintenance ({_FIELDS}) VALUES ({', '.join('?' * len(names))})",
            [getattr(window, name) for name in names],
        )
        return window

    def windows(self, include_removed: bool = False) -> list[MaintenanceWindow]:
        where = "" if include_removed else "WHERE removed_at IS NULL"
        utc_cols = ", ".join(
            f"timezone('UTC', {f})" if f in _TIME_FIELDS else f
            for f in (f.strip() for f in _FIELDS.split(","))
        )
        rows = self.con.execute(
            f"SELECT {utc_cols} FROM maintenance {where} ORDER BY id"
        ).fetchall()
        names = [f.strip() for f in _FIELDS.split(",")]
        return [
            MaintenanceWindow(
                **{
                    n: (v.replace(tzinfo=UTC) if n in _TIME_FIELDS and v is not None else v)
                    for n, v in zip(names, r, strict=True)
                }
            )
            for r in rows
        ]

    def remove(self, window_id: int, at: datetime, by: str | None = None) -> bool:
        """Stop a window from `at` on (`by` whom); False when there is no such active window."""
        found = self.con.execute(
            "UPDATE maintenance SET removed_at = ?, removed_by = ? WHERE id = ? AND removed_at IS "
            "NULL RETURNING id",
            [at, by, window_id],
        ).fetchall()
        return bool(found)


_TIME_FIELDS = frozenset({"announced_at", "starts", "ends", "removed_at", "recorded_at"})


def _rank(w: MaintenanceWindow) -> tuple[int, int]:
    return SCOPE_KINDS.index(w.scope_kind), w.id


@functools.lru_cache(maxsize=256)
def trigger(cron: str, timezone: str) -> CronTrigger:
    """Parse a standard 5-field crontab expression in an IANA zone; errors say what is wrong."""
    try:
        tz = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise MaintenanceError(f"timezone {timezone!r} is not a known IANA time zone") from exc
    fields = cron.split()
    if len(fields) != 5:
        raise MaintenanceError(
            f"cron {cron!r} has {len(fields)} fields; expected 5: "
            "minute hour day-of-month month day-of-week"
        )
    minute, hour, day, month, dow = fields
    if day != "*" and dow != "*":
        raise MaintenanceError(
            f"cron {cron!r} restricts both day-of-month and day-of-week; classic cron fires "
            "when either matches, which is rarely meant: split it into two windows"
        )
    try:
        return CronTrigger(
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=_dow_names(dow),
            timezone=tz,
        )
    except ValueError as exc:
        raise MaintenanceError(f"cron {cron!r} is invalid: {exc}") from exc


def _dow_names(field: str) -> str:
    """Translate a crontab day-of-week field (0/7 = Sunday) to APScheduler weekday names."""
    if field == "*":
        return "*"
    days: set[int] = set()
    for part in field.split(","):
        rng, _, step_text = part.partition("/")
        try:
            step = int(step_text) if step_text else 1
        except ValueError:
            raise MaintenanceError(f"day-of-week step {step_text!r} is not a number") from None
        if step <= 0:
            raise MaintenanceError(f"day-of-week step {step} must be positive")
        if rng == "*":
            lo, hi = 0, 6
        elif "-" in rng:
            a, b = rng.split("-", 1)
            lo, hi = _dow_value(a), _dow_value(b)
            if hi == 0 and b.strip() == "7":
                hi = 7
            if hi < lo:
                raise MaintenanceError(f"day-of-week range {rng!r} runs backwards")
        else:
            lo = hi = _dow_value(rng)
        days.update(d % 7 for d in range(lo, hi + 1, step))
    return ",".join(_DOW_NAMES[d] for d in sorted(days))


def _dow_value(text: str) -> int:
    text = text.strip().lower()
    if text[:3] in _DOW_NAMES and (len(text) == 3 or text.isalpha()):
        return _DOW_NAMES.index(text[:3])
    if text.isdigit() and 0 <= int(text) <= 7:
        return int(text) % 7
    raise MaintenanceError(f"day-of-week {text!r} is not 0-7 or sun..sat")


def _fire_times(cron: str, timezone: str, after: datetime) -> Iterator[datetime]:
    """Fire times in UTC strictly after `after`, each wall-clock time at most once.

    On the autumn DST change a local time occurs twice; the window starts at the first one only.
    On the spring change a missing local time falls after the gap (02:30 becomes 03:30 CEST).
    """
    t = trigger(cron, timezone)
    cursor = after + timedelta(microseconds=1)
    while True:
        fire = t.get_next_fire_time(None, cursor)
        if fire is None:
            return
        cursor = fire.astimezone(UTC) + timedelta(seconds=1)
        if fire.fold == 1 and fire.replace(fold=0).utcoffset() != fire.utcoffset():
            continue
        yield fire.astimezone(UTC)


def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise MaintenanceError(f"{name} {value.isoformat()} has no time zone")
    return value.astimezone(UTC)
