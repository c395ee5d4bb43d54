"""One-line time plots for the detail screen: values bucketed on a real time axis, gaps shown.

Textual's Sparkline spreads whatever points it gets over its width, so a day and a month of
history looked the same and a week without data did not show at all. Here each column is a
fixed slice of [since, until); a slice without data stays blank, and the axis under the plot
names the times at its ends and middle.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget

BARS = "▁▂▃▄▅▆▇█"
Points = Sequence[tuple[datetime, float | None]]


def buckets(points: Points, since: datetime, until: datetime, width: int) -> list[float | None]:
    """The mean value of each of `width` equal slices of [since, until); None: no data."""
    if width <= 0 or until <= since:
        return []
    span = (until - since).total_seconds()
    sums = [0.0] * width
    counts = [0] * width
    for ts, value in points:
        if value is None or ts < since or ts > until:
            continue
        index = min(width - 1, int((ts - since).total_seconds() / span * width))
        sums[index] += value
        counts[index] += 1
    return [s / n if n else None for s, n in zip(sums, counts, strict=True)]


def spark(values: Sequence[float | None], top: float) -> str:
    """Bars from 0 to `top` (values above it are drawn full); a blank where there is no data."""
    if top <= 0:
        top = max((v for v in values if v is not None), default=0.0) or 1.0
    last = len(BARS) - 1
    return "".join(
        " " if v is None else BARS[max(0, min(last, round(v / top * last)))] for v in values
    )


def axis_format(span: timedelta) -> str:
    return "%H:%M" if span <= timedelta(days=1) else "%m-%d %H:%M"


def axis(since: datetime, until: datetime, width: int) -> str:
    """`width` cells: the start time at the left, the middle one centred, the end at the right."""
    fmt = axis_format(until - since)
    start = since.strftime(fmt)
    end = until.strftime(fmt)
    middle = (since + (until - since) / 2).strftime(fmt)
    cells = [" "] * width
    if width < len(start) + len(end) + 2:
        return f"{start} → {end}"[:width].ljust(width)
    cells[: len(start)] = start
    cells[width - len(end) :] = end
    left = width // 2 - len(middle) // 2
    if left > len(start) + 1 and left + len(middle) < width - len(end) - 1:
        cells[left : left + len(middle)] = middle
    return "".join(cells)


class TimePlot(Widget):
    """One line of bars over [since, until); re-bucketed to its width on every resize."""

    DEFAULT_CSS = """
    TimePlot { height: 1; color: $text-accent; }
    """
    data: reactive[tuple[tuple[tuple[datetime, float | None], ...], datetime, datetime, float]] = (
        reactive(((), datetime.min, datetime.min, 0.0), layout=False)
    )

    def show(self, points: Points, since: datetime, until: datetime, top: float) -> None:
        self.data = (tuple(points), since, until, top)

    def render(self) -> Content:
        points, since, until, top = self.data
        return Content(spark(buckets(points, since, until, self.size.width), top))


class TimeAxis(Widget):
    DEFAULT_CSS = """
    TimeAxis { height: 1; color: $text-muted; }
    """
    span: reactive[tuple[datetime, datetime]] = reactive((datetime.min, datetime.min))

    def render(self) -> Content:
        since, until = self.span
        if until <= since:
            return Content("")
        return Content(axis(since, until, self.size.width))
