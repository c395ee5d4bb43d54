"""Calendar months in a time zone: the period an availability promise is measured over.

A month is the wall-clock month in the policy zone, stored and computed in UTC; a March in
Europe/Amsterdam is 31 days less the hour skipped by DST, 44,580 minutes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_MONTH = re.compile(r"^\s*(\d{4})-(\d{2})\s*$")


class PeriodError(ValueError):
    """A month or zone that cannot be used; the message names the value and the fix."""

    exit_code = 2


@dataclass(frozen=True, slots=True, order=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        """'2026-03' -> Month(2026, 3); anything else is a PeriodError naming the value."""
        m = _MONTH.match(text or "")
        if not m or not 1 <= int(m.group(2)) <= 12 or int(m.group(1)) < 1970:
            raise PeriodError(f"month {text!r} is not a month such as 2026-03 (YYYY-MM)")
        return cls(int(m.group(1)), int(m.group(2)))

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Month:
        return Month(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    def days(self) -> list[date]:
        """Every calendar day of the month."""
        first, following = self.first_day, self.next().first_day
        return [first + timedelta(days=n) for n in range((following - first).days)]

    def bounds(self, zone: str) -> tuple[datetime, datetime]:
        """[start, end) in UTC of this month in `zone`."""
        tz = zoneinfo(zone)
        start = datetime.combine(self.first_day, datetime.min.time(), tz)
        end = datetime.combine(self.next().first_day, datetime.min.time(), tz)
        return start.astimezone(UTC), end.astimezone(UTC)


def day_bounds(day: date, zone: str) -> tuple[datetime, datetime]:
    """[start, end) in UTC of one wall-clock day in `zone` (23 or 25 h across DST)."""
    tz = zoneinfo(zone)
    start = datetime.combine(day, datetime.min.time(), tz)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def zoneinfo(zone: str) -> ZoneInfo:
    try:
        return ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise PeriodError(
            f"unknown time zone {zone!r}; use an IANA name such as Europe/Brussels"
        ) from None
