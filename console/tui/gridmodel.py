"""The fleet grid's data model: rows, filter, sort, counts and cell text, with no Textual import.

Kept free of UI code so filtering 10,000 rows is a few list comprehensions that can be unit
tested and benchmarked on their own, and so the widget only ever asks "what is at position y".
"""

from __future__ import annotations

import itertools
from bisect import insort
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import zip_longest
from typing import Any, Literal

from console import units
from console.clock import utcnow
from console.desk.text import countdown, live_state
from console.fleetview import FleetCounts, ServerRow, Status
from console.status import LABEL, PROBLEM_STATUSES, QUIET_STATUSES, SEVERITY

STATUS_LABEL = LABEL
MISSING = "—"
TIMES = "\u00d7"
MAILED = "\u2709"
"""Marks a failure the installer has been alerted about (the mail is queued or sent)."""
AVAILABILITY_DAYS = 30
AVAILABILITY_MIN_KNOWN_S = 86400.0
"""Less known time than this and the grid shows no availability figure at all ("n/a")."""
AVAILABILITY_FULL_S = (AVAILABILITY_DAYS - 1) * 86400.0
"""Less known time than this and the figure is marked "~": it covers part of the period only."""


@dataclass(frozen=True, slots=True)
class GridFilter:
    """Which rows are visible; every field that is set must match (an AND of conditions)."""

    installer_id: str | None = None
    customer_id: str | None = None
    statuses: frozenset[Status] | None = None
    text: str = ""

    @property
    def needle(self) -> str:
        return self.text.strip().casefold()

    @property
    def is_empty(self) -> bool:
        return (
            self.installer_id is None
            and self.customer_id is None
            and self.statuses is None
            and not self.needle
        )

    def describe(self) -> str:
        """What is shown, for a header: ``installer i1 · pending, problem or down · "cam"``;
        every status a row can have is named, so the words match the rows."""
        parts = []
        if self.installer_id is not None:
            parts.append(f"installer {self.installer_id}")
        if self.customer_id is not None:
            parts.append(f"customer {self.customer_id}")
        if self.statuses is not None:
            names = sorted(self.statuses, key=lambda s: SEVERITY.get(s, 99))
            parts.append(", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0])
        if self.needle:
            parts.append(f'"{self.text.strip()}"')
        return " · ".join(parts) if parts else "all"

    def with_text(self, text: str) -> GridFilter:
        return replace(self, text=text)


utc_now = utcnow
"""The default clock; views take a clock function so tests and snapshots can freeze it."""


def format_age(when: datetime | None, now: datetime) -> str:
    """Compact age ("45s", "3m", "5h", "2d") so the column stays four cells wide."""
    if when is None:
        return MISSING
    if when.tzinfo is None and now.tzinfo is not None:
        when = when.replace(tzinfo=UTC)
    seconds = max(0, int((now - when).total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def format_rate(bps: float | None) -> str:
    """`console.units.format_rate`, with the grid's mark for a missing value."""
    return MISSING if bps is None else units.format_rate(bps)


SHORT_CHECK = {
    "server_online": "server",
    "camera": "cam",
    "disk_activity": "disk",
    "video_rights": "rights",
}
"""Check names abbreviated on purpose, so two failing checks fit the grid's column at 80 cols."""


def format_failing(row: ServerRow) -> str:
    """Group failing checks by (short) name, worst first: "cam\u00d72 (3), cpu (1)"; a trailing
    envelope when the installer has been alerted about any of them."""
    if not row.failing:
        return ""
    mailed = f" {MAILED}" if any(f.alerted_at is not None for f in row.failing) else ""
    groups: dict[str, list[int]] = {}
    for failing in row.failing:
        groups.setdefault(SHORT_CHECK.get(failing.check, failing.check), []).append(
            failing.consecutive
        )
    ordered = sorted(groups.items(), key=lambda item: -max(item[1]))
    return (
        ", ".join(
            f"{check}{TIMES + str(len(runs)) if len(runs) > 1 else ''} ({max(runs)})"
            for check, runs in ordered
        )
        + mailed
    )


def _cameras(row: ServerRow) -> str:
    if row.cameras_total is None:
        return MISSING
    online = MISSING if row.cameras_online is None else str(row.cameras_online)
    return f"{online}/{row.cameras_total}"


def _cameras_offline(row: ServerRow) -> int | None:
    if row.cameras_total is None or row.cameras_online is None:
        return None
    return row.cameras_total - row.cameras_online


def _pct(value: float | None) -> str:
    return MISSING if value is None else f"{value:.0f}%"


def availability_text(value: float | None, known_s: float | None) -> str:
    """The 30-day figure, "~" in front when it covers part of the period, "n/a" when it rests
    on less than a day of data: a few minutes of data are not a month's availability."""
    if value is None or known_s is None or known_s < AVAILABILITY_MIN_KNOWN_S:
        return "n/a"
    partial = "~" if known_s < AVAILABILITY_FULL_S else ""
    return f"{partial}{value * 100:.2f}%"


def _availability_key(row: ServerRow) -> float | None:
    if availability_text(row.availability_30d, row.availability_known_s) == "n/a":
        return None
    return row.availability_30d


def format_incident(row: ServerRow, now: datetime) -> str:
    """The server's open incident and its most urgent timer: "#12 P1 1h 05m", "#12 P1
    paused", "#3 high BREACHED -20m"; "+2" when more are open."""
    mark = row.incident
    if mark is None:
        return ""
    text = f"#{mark.id} {mark.priority}"
    state = live_state(mark.timer, now)
    if state == "paused":
        text += " paused"
    elif state == "breached":
        text += f" BREACHED {countdown(mark.timer, now)}"
    elif mark.timer is not None:
        text += f" {countdown(mark.timer, now)}"
    return text + (f" +{mark.open - 1}" if mark.open > 1 else "")


def _incident_key(row: ServerRow) -> float | None:
    mark = row.incident
    if mark is None:
        return None
    return mark.timer.due.timestamp() if mark.timer is not None else float("inf")


def _failing_key(row: ServerRow) -> tuple[int, int] | None:
    if not row.failing:
        return None
    return (max(f.consecutive for f in row.failing), len(row.failing))


def _age_key(row: ServerRow) -> float | None:
    if row.last_check is None:
        return None
    when = row.last_check
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return -when.timestamp()


@dataclass(frozen=True, slots=True)
class Column:
    """A grid column: how to show it, how to sort it, and how readily to give up space.

    ``priority``: higher survives narrower terminals. ``sort_value`` returns None for "no value",
    which always sorts last.
    """

    key: str
    title: str
    min_width: int
    width: int
    priority: int
    text: Callable[[ServerRow, datetime], str]
    sort_value: Callable[[ServerRow], Any]
    align: Literal["left", "right"] = "left"
    flex: int = 0
    descending_first: bool = False


COLUMNS: tuple[Column, ...] = (
    Column(
        "status",
        "Status",
        7,
        7,
        100,
        lambda r, _: STATUS_LABEL.get(r.status, STATUS_LABEL["unknown"]),
        lambda r: SEVERITY.get(r.status, 99),
    ),
    Column(
        "server", "Server", 10, 16, 95, lambda r, _: r.name, lambda r: r.name.casefold(), flex=3
    ),
    Column(
        "customer",
        "Customer",
        10,
        16,
        55,
        lambda r, _: r.customer_name,
        lambda r: r.customer_name.casefold(),
        flex=2,
    ),
    Column(
        "installer",
        "Installer",
        8,
        14,
        30,
        lambda r, _: r.installer_name,
        lambda r: r.installer_name.casefold(),
        flex=1,
    ),
    Column(
        "cameras",
        "Cams",
        7,
        7,
        75,
        lambda r, _: _cameras(r),
        _cameras_offline,
        align="right",
        descending_first=True,
    ),
    Column(
        "cpu",
        "CPU",
        4,
        4,
        60,
        lambda r, _: _pct(r.cpu_pct),
        lambda r: r.cpu_pct,
        align="right",
        descending_first=True,
    ),
    Column(
        "disk",
        "Write",
        9,
        9,
        50,
        lambda r, _: format_rate(r.disk_write_bps),
        lambda r: r.disk_write_bps,
        align="right",
        descending_first=True,
    ),
    Column(
        "age",
        "Age",
        4,
        4,
        70,
        lambda r, now: format_age(r.last_check, now),
        _age_key,
        align="right",
        descending_first=True,
    ),
    Column(
        "failing",
        "Failing",
        18,  # "cam (3), cpu (3) ✉": two failing checks, mailed, at 80 columns
        24,
        80,
        lambda r, _: format_failing(r),
        _failing_key,
        flex=3,
        descending_first=True,
    ),
    Column(
        "incident",
        "Incident",
        12,
        18,
        35,
        format_incident,
        _incident_key,
    ),
    Column(
        "availability",
        f"Avail {AVAILABILITY_DAYS}d",
        9,
        9,
        40,
        lambda r, _: availability_text(r.availability_30d, r.availability_known_s),
        _availability_key,
        align="right",
    ),
)
COLUMN_BY_KEY: dict[str, Column] = {c.key: c for c in COLUMNS}


def layout_columns(
    width: int, columns: tuple[Column, ...] = COLUMNS, gap: int = 1
) -> list[tuple[Column, int]]:
    """Fit columns into ``width`` cells: drop the lowest priorities, then grow towards preferred
    widths, then hand what is left to flexible columns. Keeps the declared column order."""
    kept = list(columns)
    while kept:
        needed = sum(c.min_width for c in kept) + gap * (len(kept) - 1)
        if needed <= width or len(kept) == 1:
            break
        kept.remove(min(kept, key=lambda c: c.priority))
    widths = {c.key: c.min_width for c in kept}
    spare = width - sum(widths.values()) - gap * (len(kept) - 1)
    for column in sorted(kept, key=lambda c: -c.priority):
        grow = min(spare, column.width - column.min_width)
        if grow > 0:
            widths[column.key] += grow
            spare -= grow
    flexible = [c for c in kept if c.flex]
    total_flex = sum(c.flex for c in flexible)
    if spare > 0 and total_flex:
        for column in flexible:
            share = spare * column.flex // total_flex
            widths[column.key] += share
        leftover = width - sum(widths.values()) - gap * (len(kept) - 1)
        widths[flexible[0].key] += max(0, leftover)
    return [(c, max(1, widths[c.key])) for c in kept]


def _haystack(row: ServerRow) -> str:
    return "\n".join(
        (
            row.server_id,
            row.name,
            row.customer_id,
            row.customer_name,
            row.installer_id,
            row.installer_name,
        )
    ).casefold()


def _same_names(a: ServerRow, b: ServerRow) -> bool:
    return (
        a.name == b.name
        and a.customer_id == b.customer_id
        and a.customer_name == b.customer_name
        and a.installer_id == b.installer_id
        and a.installer_name == b.installer_name
    )


class GridModel:
    """Rows by server id, plus the ordered list of visible ids for the current filter and sort.

    Sorting keeps the full ordering of all rows (``_sorted``) so a filter keystroke is one pass
    over it without re-sorting; visible positions are rebuilt lazily.
    """

    def __init__(
        self,
        rows: Iterable[ServerRow] = (),
        *,
        sort_key: str = "status",
        descending: bool = False,
        filter: GridFilter | None = None,
    ) -> None:
        if sort_key not in COLUMN_BY_KEY:
            raise ValueError(f"unknown column {sort_key!r}")
        self._serials = itertools.count(1)
        self._sorted: list[str] = []
        self._order: list[str] = []
        self._visible: set[str] = set()
        self._positions: dict[str, int] | None = None
        self._sort_column = COLUMN_BY_KEY[sort_key]
        self._descending = descending
        self._filter = filter or GridFilter()
        self._needle = self._filter.needle
        self.load(rows)

    def load(self, rows: Iterable[ServerRow]) -> None:
        """Replace every row (a fresh snapshot)."""
        self._rows: dict[str, ServerRow] = {r.server_id: r for r in rows}
        self._serial: dict[str, int] = {sid: next(self._serials) for sid in self._rows}
        self._hay: dict[str, str] = {sid: _haystack(r) for sid, r in self._rows.items()}
        self._by_id: list[str] = sorted(self._rows)
        self._recount()
        self._resort()
        self._refilter()

    def __len__(self) -> int:
        return len(self._order)

    @property
    def total(self) -> int:
        return len(self._rows)

    @property
    def filter(self) -> GridFilter:
        return self._filter

    @property
    def sort_key(self) -> str:
        return self._sort_column.key

    @property
    def descending(self) -> bool:
        return self._descending

    @property
    def counts(self) -> FleetCounts:
        """Counts over every row held, regardless of the filter (the header's fleet totals)."""
        by = self._status_counts
        return FleetCounts(
            servers=len(self._rows),
            up=by.get("up", 0),
            problem=by.get("problem", 0),
            down=by.get("down", 0),
            pending=by.get("pending", 0),
            cameras_offline=self._cameras_offline,
        )

    def get(self, server_id: str) -> ServerRow | None:
        return self._rows.get(server_id)

    def id_at(self, position: int) -> str:
        return self._order[position]

    def row_at(self, position: int) -> ServerRow:
        return self._rows[self._order[position]]

    def serial(self, server_id: str) -> int:
        """Changes whenever the row changes; a cheap identity for render caches."""
        return self._serial[server_id]

    def position(self, server_id: str) -> int | None:
        if self._positions is None:
            self._positions = {sid: i for i, sid in enumerate(self._order)}
        return self._positions.get(server_id)

    def visible_ids(self) -> list[str]:
        return list(self._order)

    def rows(self) -> Iterator[ServerRow]:
        """Every row held, in server id order, regardless of the filter (for filter pickers and
        the palette's server search)."""
        rows = self._rows
        return (rows[sid] for sid in self._by_id)

    def set_filter(self, new: GridFilter) -> bool:
        """Apply a filter; returns whether it changed. Narrowing the text only scans the rows
        that matched before."""
        old = self._filter
        if new == old:
            return False
        self._filter = new
        self._needle = new.needle
        narrowing = replace(new, text="") == replace(old, text="") and old.needle in new.needle
        if narrowing:
            needle = new.needle
            hay = self._hay
            self._visible = {sid for sid in self._visible if needle in hay[sid]}
            self._order = [sid for sid in self._order if sid in self._visible]
            self._positions = None
        else:
            self._refilter()
        return True

    def sort(self, key: str, descending: bool | None = None) -> None:
        """Sort by a column; ``descending=None`` uses the column's natural first direction."""
        column = COLUMN_BY_KEY[key]
        self._sort_column = column
        self._descending = column.descending_first if descending is None else descending
        self._resort()
        self._reorder()

    def apply_updates(self, rows: Iterable[ServerRow]) -> list[int]:
        """Store changed rows; returns the sorted visible positions whose content changed.

        Re-sorts or re-filters only when a row's sort value or filter membership changed, or a
        new server appeared; otherwise the positions are just those of the changed rows.
        """
        keyf = self._sort_column.sort_value
        stored, keys, serial, visible = self._rows, self._keys, self._serial, self._visible
        unfiltered = self._filter.is_empty
        touched: list[str] = []
        resort = refilter = False
        for row in rows:
            sid = row.server_id
            old = stored.get(sid)
            if old is row or old == row:
                continue
            stored[sid] = row
            serial[sid] = next(self._serials)
            touched.append(sid)
            if old is None:
                self._count(row, 1)
                self._hay[sid] = _haystack(row)
                insort(self._by_id, sid)
                keys[sid] = keyf(row)
                resort = True
            else:
                if (
                    old.status != row.status
                    or old.cameras_online != row.cameras_online
                    or old.cameras_total != row.cameras_total
                ):
                    self._count(old, -1)
                    self._count(row, 1)
                if not _same_names(old, row):
                    self._hay[sid] = _haystack(row)
                value = keyf(row)
                if value != keys[sid]:
                    keys[sid] = value
                    resort = True
            if not unfiltered and self._matches(sid, row) != (sid in visible):
                visible.symmetric_difference_update((sid,))
                refilter = True
            elif unfiltered and sid not in visible:
                visible.add(sid)
                refilter = True
        if not touched:
            return []
        if not (resort or refilter):
            position = self.position
            found = (position(sid) for sid in touched)
            return sorted(p for p in found if p is not None)
        before = self._order
        if resort:
            self._resort(keys_ready=True)
        self._reorder()
        changed = {i for i, (a, b) in enumerate(zip_longest(before, self._order)) if a != b}
        position = self.position
        changed.update(p for p in map(position, touched) if p is not None)
        return sorted(changed)

    def _matches(self, sid: str, row: ServerRow) -> bool:
        f = self._filter
        needle = self._needle
        return (
            (f.installer_id is None or row.installer_id == f.installer_id)
            and (f.customer_id is None or row.customer_id == f.customer_id)
            and (f.statuses is None or row.status in f.statuses)
            and (not needle or needle in self._hay[sid])
        )

    def _refilter(self) -> None:
        f = self._filter
        rows = self._rows
        ids: Iterable[str] = self._by_id
        if f.installer_id is not None:
            ids = [s for s in ids if rows[s].installer_id == f.installer_id]
        if f.customer_id is not None:
            ids = [s for s in ids if rows[s].customer_id == f.customer_id]
        if f.statuses is not None:
            statuses = f.statuses
            ids = [s for s in ids if rows[s].status in statuses]
        if needle := f.needle:
            hay = self._hay
            ids = [s for s in ids if needle in hay[s]]
        self._visible = set(ids)
        self._reorder()

    def _reorder(self) -> None:
        visible = self._visible
        if len(visible) == len(self._sorted):
            self._order = list(self._sorted)
        else:
            self._order = [sid for sid in self._sorted if sid in visible]
        self._positions = None

    def _resort(self, keys_ready: bool = False) -> None:
        """Order all rows: value ascending or descending, ties by server id, None last.

        Sorting from the id-ordered list with a stable sort gives the tie-break for free, in
        both directions (``reverse=True`` keeps stability).
        """
        if not keys_ready:
            keyf = self._sort_column.sort_value
            self._keys: dict[str, Any] = {sid: keyf(r) for sid, r in self._rows.items()}
        keys = self._keys
        present = [sid for sid in self._by_id if keys[sid] is not None]
        missing = [sid for sid in self._by_id if keys[sid] is None]
        present.sort(key=keys.__getitem__, reverse=self._descending)
        self._sorted = present + missing

    def _recount(self) -> None:
        self._status_counts: dict[str, int] = {}
        self._cameras_offline = 0
        for row in self._rows.values():
            self._count(row, 1)

    def _count(self, row: ServerRow | None, sign: int) -> None:
        if row is None:
            return
        self._status_counts[row.status] = self._status_counts.get(row.status, 0) + sign
        offline = _cameras_offline(row)
        if offline:
            self._cameras_offline += sign * offline


__all__ = [
    "COLUMNS",
    "COLUMN_BY_KEY",
    "PROBLEM_STATUSES",
    "QUIET_STATUSES",
    "SHORT_CHECK",
    "STATUS_LABEL",
    "Column",
    "GridFilter",
    "GridModel",
    "availability_text",
    "format_age",
    "format_failing",
    "format_rate",
    "layout_columns",
    "utc_now",
]
