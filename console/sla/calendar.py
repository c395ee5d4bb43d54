"""Business calendars: counted time between instants, due instants, ends of business days.

A calendar is an IANA zone, wall-clock opening hours per weekday, holidays (from the `holidays`
package plus the contract's own additions and removals) and extra working dates (Russia's
transfer Saturdays). A 24/7 calendar is one whose every day is open from 00:00 to 24:00.

All arithmetic is on integer microseconds since the Unix epoch (UTC); wall-clock time appears
only where the opening hours of a local date are turned into UTC instants. Each year's open
intervals are built once, with a running total of counted time, so that "counted time between
two instants" and "the instant N counted minutes after this one" are two binary searches: a
thousand incidents' timers are recomputed for every screen refresh.

Written here rather than borrowed: `businesstimedelta` needs pytz and fails past its holiday
list, and pandas' `CustomBusinessHour` moves a deadline that falls on a closing time to the next
morning and knows no pauses (see shared/reference/sla-semantics.md).
"""

from __future__ import annotations

import functools
import importlib.util
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

US = 1_000_000  # microseconds per second
MINUTE = 60 * US
HOUR = 60 * MINUTE
DAY_MINUTES = 24 * 60
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_ONE_DAY = timedelta(days=1)
_MAX_DAYS_WITHOUT_OPENING = 3660  # a calendar closed for ten years is a configuration mistake

Hours = tuple[tuple[int, int], ...]  # (start, end) minutes after local midnight, end <= 1440


class CalendarError(ValueError):
    """A calendar that cannot answer: never open, or a holiday country the package lacks."""


def to_us(instant: datetime) -> int:
    """An aware datetime as microseconds since the epoch (exact; naive times are refused)."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{instant.isoformat()} has no UTC offset")
    return (instant - _EPOCH) // _ONE_US


def from_us(us: int) -> datetime:
    """Microseconds since the epoch as a UTC datetime."""
    return _EPOCH + timedelta(microseconds=us)


def parse_instant(text: str) -> datetime:
    """ISO 8601 with an offset ("2026-03-02T09:00:00+01:00", "...Z") as a UTC datetime.

    A time without an offset is refused: the same wall time is a different instant in every
    zone, and guessing one is how deadlines end up an hour off."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text!r} is not an ISO 8601 time; write e.g. 2026-03-02T09:00:00+01:00"
        ) from None
    if value.tzinfo is None:
        raise ValueError(
            f"{text!r} has no UTC offset; add one, e.g. {value.isoformat()}+01:00 or Z for UTC"
        )
    return value.astimezone(UTC)


def parse_hours(text: str) -> tuple[int, int]:
    """ "09:00-17:00" as (540, 1020) minutes; "24:00" ends a day."""
    try:
        start, end = (part.strip() for part in text.split("-"))
        lo, hi = _minutes(start), _minutes(end)
    except ValueError:
        raise ValueError(f"{text!r} is not a range of hours such as 09:00-17:00") from None
    if lo >= hi or hi > DAY_MINUTES:
        raise ValueError(
            f"{text!r}: the range must end after it starts, within one day (up to 24:00)"
        )
    return lo, hi


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    if len(hours) != 2 or len(minutes) != 2:
        raise ValueError(hhmm)
    h, m = int(hours), int(minutes)
    if not (0 <= h <= 24 and 0 <= m < 60) or (h == 24 and m):
        raise ValueError(hhmm)
    return h * 60 + m


@dataclass(frozen=True)
class HolidayRules:
    """Which dates differ from the weekly pattern: public holidays of a country (and
    subdivision) from the `holidays` package, the contract's additions and removals, extra
    working dates, and the country's own moved working days (`weekend_workdays`)."""

    country: str | None = None
    subdivision: str | None = None
    add: frozenset[date] = frozenset()
    remove: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()
    transfer_workdays: bool = True

    def year(self, year: int) -> tuple[frozenset[date], frozenset[date]]:
        """(closed dates, extra open dates) of one year."""
        closed: set[date] = set()
        opened = {d for d in self.workdays if d.year == year}
        if self.country:
            table = _country_holidays(self.country, self.subdivision, year)
            closed.update(table)
            if self.transfer_workdays:
                opened.update(d for d in getattr(table, "weekend_workdays", ()) if d.year == year)
        closed.update(d for d in self.add if d.year == year)
        closed.difference_update(self.remove)
        closed.difference_update(opened)
        return frozenset(closed), frozenset(opened)


def _country_holidays(country: str, subdivision: str | None, year: int) -> Any:
    try:
        return country_class(country)(subdiv=subdivision, years=year)
    except NotImplementedError:
        raise CalendarError(
            f"the holidays package has no country {country!r} (or subdivision {subdivision!r})"
        ) from None


@functools.cache
def country_class(country: str) -> Any:
    """The holidays package's class for an ISO 3166 country code.

    The package's documented entry point imports its `holidays.countries` index, which loads
    all ~250 country modules: ~0.1 s of every `nls sla due`. Loading only the one country's
    module (named in the package's registry) gives the same class; anything unexpected in that
    layout falls back to the documented entry point."""
    import holidays.registry

    try:
        name, entry = next(
            (k, v) for k, v in holidays.registry.COUNTRIES.items() if v[1] == country
        )
        package = importlib.util.find_spec("holidays")
        assert package is not None and package.submodule_search_locations
        path = Path(package.submodule_search_locations[0]) / "countries" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(f"holidays.countries.{name}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return getattr(module, entry[0])
    except Exception:
        import holidays

        return functools.partial(holidays.country_holidays, country)


def known_holiday_country(country: str, subdivision: str | None) -> str | None:
    """None if the holidays package knows this country (and subdivision), else why not. The
    country is checked against the package's registry, a subdivision against its class."""
    from holidays.registry import COUNTRIES

    codes = {entry[1] for entry in COUNTRIES.values()}
    if country not in codes:
        return f"the holidays package has no country {country!r}; use a code such as NL, BE, RU"
    if subdivision is not None:
        known = country_class(country)(years=2000).subdivisions
        if subdivision not in known:
            return (
                f"{country} has no subdivision {subdivision!r}; known: {', '.join(sorted(known))}"
            )
    return None


@dataclass(frozen=True, slots=True)
class _Table:
    """Local years [first, last] of a calendar as sorted disjoint UTC intervals, with the
    counted microseconds from `lo` (the first year's local midnight) to each interval's end."""

    first: int
    last: int
    lo: int
    hi: int
    starts: list[int]
    ends: list[int]
    cum: list[int]

    def counted_to(self, t: int) -> int:
        """Counted microseconds from `lo` to t (lo <= t < hi)."""
        i = bisect_right(self.starts, t) - 1
        if i < 0:
            return 0
        end = self.ends[i]
        return self.cum[i] - (end - t) if t < end else self.cum[i]


@dataclass(eq=False)
class Calendar:
    """Counted time in one zone: opening hours per weekday, less holidays, plus extra dates.

    `week` holds seven entries (Monday first) of (start, end) minutes after local midnight.
    `extra_hours` are the hours of an extra working date (default: the first open weekday's).
    """

    zone: str
    week: tuple[Hours, ...]
    rules: HolidayRules = HolidayRules()
    extra_hours: Hours | None = None
    name: str = ""
    workday_minutes: int = 0  # "1 workday": the first open weekday's length unless given
    tz: ZoneInfo = field(init=False, repr=False)
    always_open: bool = field(init=False, repr=False)
    _days: dict[date, Hours] = field(init=False, repr=False, default_factory=dict)
    _years: dict[int, tuple[frozenset[date], frozenset[date]]] = field(
        init=False, repr=False, default_factory=dict
    )
    # The built years, replaced whole (never changed in place) so that threads computing
    # timers at the same time each read one consistent table; growing it takes the lock.
    _table: _Table | None = field(init=False, repr=False, default=None)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if len(self.week) != 7:
            raise ValueError("a week has seven days")
        self.tz = ZoneInfo(self.zone)
        week = tuple(_normalise(day) for day in self.week)
        self.week = week
        open_days = [day for day in week if day]
        if not open_days:
            raise CalendarError(f"calendar {self.name or self.zone} is never open")
        if self.extra_hours is None:
            self.extra_hours = open_days[0]
        if not self.workday_minutes:
            self.workday_minutes = sum(e - s for s, e in open_days[0])
        full = ((0, DAY_MINUTES),)
        self.always_open = (
            all(day == full for day in week) and not self.rules.country and not self.rules.add
        )

    @classmethod
    def always(cls, zone: str = "UTC") -> Calendar:
        """The 24/7 calendar: every instant counts (the zone only places calendar days)."""
        return cls(zone, (((0, DAY_MINUTES),),) * 7, name="24/7")

    # -- days -----------------------------------------------------------------------------------

    def hours_on(self, day: date) -> Hours:
        """The opening hours of one local date (empty when closed)."""
        hours = self._days.get(day)
        if hours is None:
            closed, opened = self._year_rules(day.year)
            if day in opened:
                hours = self.extra_hours or ()
            elif day in closed:
                hours = ()
            else:
                hours = self.week[day.weekday()]
            self._days[day] = hours
        return hours

    def is_business_day(self, day: date) -> bool:
        return bool(self.hours_on(day))

    def _year_rules(self, year: int) -> tuple[frozenset[date], frozenset[date]]:
        rules = self._years.get(year)
        if rules is None:
            rules = self._years[year] = self.rules.year(year)
        return rules

    def local_date(self, us: int) -> date:
        return from_us(us).astimezone(self.tz).date()

    def _wall_us(self, day: date, minute: int) -> int:
        """The UTC instant of a wall-clock minute of a local date (24:00 is the next midnight).
        A minute skipped by a spring-forward change maps to the instant that wall time would
        have had before the change (02:30 -> 03:30 on a 02:00 -> 03:00 jump), monotonically."""
        if minute >= DAY_MINUTES:
            day, minute = day + _ONE_DAY, minute - DAY_MINUTES
        hour, mins = divmod(minute, 60)
        wall = datetime(day.year, day.month, day.day, hour, mins, tzinfo=self.tz)
        return int(wall.timestamp()) * US  # whole seconds: exact

    def open_intervals(self, day: date) -> list[tuple[int, int]]:
        """One local date's open intervals as UTC microsecond pairs (an interval that lies in
        the hour a spring-forward change skips does not exist that day)."""
        found = []
        for s, e in self.hours_on(day):
            lo, hi = self._wall_us(day, s), self._wall_us(day, e)
            if hi > lo:
                found.append((lo, hi))
        return found

    # -- the cumulative table --------------------------------------------------------------------

    def _covering(self, lo: int, hi: int) -> _Table:
        """A table whose years hold [lo, hi]: later years are appended to a copy, an earlier
        start rebuilds once from the year needed."""
        table = self._table
        if table is not None and table.lo <= lo and hi < table.hi:
            return table
        with self._lock:
            table = self._table
            first, last = self.local_date(lo).year, self.local_date(hi).year
            if table is None or first < table.first:
                table = self._grown(None, first, max(last, table.last if table else last))
            elif last > table.last:
                table = self._grown(table, table.first, last)
            self._table = table
            return table

    def _grown(self, table: _Table | None, first: int, last: int) -> _Table:
        """`table` (or nothing) extended with the years after its last up to `last`."""
        starts = list(table.starts) if table else []
        ends = list(table.ends) if table else []
        cum = list(table.cum) if table else []
        total = cum[-1] if cum else 0
        day, stop = date(table.last + 1 if table else first, 1, 1), date(last + 1, 1, 1)
        while day < stop:
            for s, e in self.open_intervals(day):
                if ends and ends[-1] >= s:  # adjacent (24/7 midnights) or overlapping: merge
                    if e > ends[-1]:
                        total += e - ends[-1]
                        ends[-1] = e
                        cum[-1] = total
                else:
                    total += e - s
                    starts.append(s)
                    ends.append(e)
                    cum.append(total)
            day += _ONE_DAY
        lo = table.lo if table else self._wall_us(date(first, 1, 1), 0)
        return _Table(first, last, lo, self._wall_us(stop, 0), starts, ends, cum)

    def _instant_at(self, table: _Table, c: int) -> int:
        """The earliest instant at which c counted microseconds have passed since the table's
        start (0 < c), growing the table by years as needed."""
        empty_years = 0
        while not table.cum or c > table.cum[-1]:
            before = table.cum[-1] if table.cum else 0
            with self._lock:
                current = self._table
                if (
                    current is not None
                    and current.first == table.first
                    and current.last > table.last
                ):
                    table = current  # another thread grew it meanwhile
                else:
                    table = self._table = self._grown(table, table.first, table.last + 1)
            empty_years = empty_years + 1 if (table.cum[-1] if table.cum else 0) == before else 0
            if empty_years * 366 > _MAX_DAYS_WITHOUT_OPENING:
                raise CalendarError(f"calendar {self.name or self.zone} is never open")
        i = bisect_left(table.cum, c)
        return table.ends[i] - (table.cum[i] - c)

    # -- arithmetic on microseconds ----------------------------------------------------------------

    def add_us(self, start: int, amount: int) -> int:
        """The earliest instant at which `amount` counted microseconds have passed since start.
        A start outside the hours counts from the next opening; a target used up exactly at
        closing time is due at closing time, not at the next opening."""
        if amount <= 0:
            return start
        if self.always_open:
            return start + amount
        table = self._covering(start, start)
        return max(start, self._instant_at(table, table.counted_to(start) + amount))

    def counted_us(self, start: int, end: int) -> int:
        """Counted microseconds in [start, end)."""
        if end <= start:
            return 0
        if self.always_open:
            return end - start
        table = self._covering(start, end)
        return table.counted_to(end) - table.counted_to(start)

    def end_of_business_day_us(self, start: int, n: int) -> int:
        """Closing time of the Nth business day after the local date of `start`. N = 0 is the
        closing time of that date itself when it is a business day not yet closed at `start`,
        else of the next business day ("same day")."""
        day = self.local_date(start)
        if n <= 0:
            intervals = self.open_intervals(day)
            if intervals and intervals[-1][1] > start:
                return intervals[-1][1]
            n = 1
        for _ in range(_MAX_DAYS_WITHOUT_OPENING):
            day += _ONE_DAY
            if self.hours_on(day):
                n -= 1
                if n == 0:
                    return self.open_intervals(day)[-1][1]
        raise CalendarError(f"calendar {self.name or self.zone} is never open")

    def add_calendar_days_us(self, start: int, days: int) -> int:
        """The same local time `days` dates later in this zone: across a DST change that is 71
        or 73 real hours for three days. A local time that does not exist on the target date
        (spring forward) maps to the same minute after the gap."""
        local = from_us(start).astimezone(self.tz)
        later = (local.replace(tzinfo=None) + timedelta(days=days)).replace(tzinfo=self.tz)
        return to_us(later)

    def is_open_us(self, t: int) -> bool:
        if self.always_open:
            return True
        return any(s <= t < e for s, e in self.open_intervals(self.local_date(t)))

    # -- the same on datetimes -------------------------------------------------------------------

    def add(self, start: datetime, minutes: float) -> datetime:
        """The due instant of `minutes` counted minutes from start (UTC)."""
        return from_us(self.add_us(to_us(start), round(minutes * MINUTE)))

    def counted(self, start: datetime, end: datetime) -> timedelta:
        return timedelta(microseconds=self.counted_us(to_us(start), to_us(end)))

    def end_of_business_day(self, start: datetime, n: int) -> datetime:
        return from_us(self.end_of_business_day_us(to_us(start), n))

    def add_calendar_days(self, start: datetime, days: int) -> datetime:
        return from_us(self.add_calendar_days_us(to_us(start), days))

    def is_open(self, at: datetime) -> bool:
        return self.is_open_us(to_us(at))

    def local(self, instant: datetime) -> datetime:
        """An instant as wall-clock time in this calendar's zone."""
        return instant.astimezone(self.tz)


def _normalise(hours: Iterable[tuple[int, int]]) -> Hours:
    """Sorted, merged, validated intervals of one day."""
    merged: list[tuple[int, int]] = []
    for s, e in sorted(hours):
        if not (0 <= s < e <= DAY_MINUTES):
            raise ValueError(f"bad hours {s}-{e}: minutes must satisfy 0 <= start < end <= 1440")
        if merged and merged[-1][1] >= s:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return tuple(merged)


def weekly(days: Sequence[str], hours: Sequence[tuple[int, int]]) -> tuple[Hours, ...]:
    """A week with the same hours on the named days ("mon".."sun") and closed otherwise."""
    wanted = set(days)
    return tuple(tuple(hours) if name in wanted else () for name in WEEKDAYS)
