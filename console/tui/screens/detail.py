"""One server: facts, failing items (and when the installer was alerted), CPU and disk history
on a time axis over the last 24 h / 7 d / 30 d, every camera by name with its state and since
when, the latest samples, and availability per check."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable, Footer, Label, Static

from console.fleetview import ServerDetail
from console.tui.bindings import Context, bindings_for
from console.tui.gridmodel import (
    AVAILABILITY_DAYS,
    MISSING,
    SHORT_CHECK,
    STATUS_LABEL,
    availability_text,
    format_age,
    format_failing,
    format_rate,
)
from console.tui.header import NlsHeader
from console.tui.plot import Points, TimeAxis, TimePlot
from console.tui.screens.base import NlsScreen, column, fill_table

PERIODS: tuple[tuple[str, timedelta], ...] = (
    ("24 h", timedelta(days=1)),
    ("7 d", timedelta(days=7)),
    ("30 d", timedelta(days=30)),
)
SHOWN_ABOVE = frozenset({"customer", "installer", "quiet_until", "maintenance"})
STATE_STYLE = {"ok": "$text-success", "fail": "$text-error bold", "unknown": "$text-muted"}
STATE = column("State", "OK", "FAIL", "UNKNOWN")


def _when(value: datetime | None) -> str:
    return MISSING if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def _pct(value: float | None) -> str:
    return MISSING if value is None else f"{value * 100:.2f}%"


def _checks(n: int) -> str:
    return f"{n} failed check" if n == 1 else f"{n} failed checks in a row"


def _value(check: str, value: float | None) -> str:
    """A measurement with its unit; the other checks' values are flags (1/0) or counts that
    mean nothing to a reader beside their state and detail."""
    if value is None:
        return ""
    if check == "disk_activity":
        return format_rate(value)
    if check == "cpu":
        return f"{value:.0f}%"
    return ""


@dataclass(frozen=True, slots=True)
class Series:
    points: tuple[tuple[datetime, float | None], ...]
    low: float | None
    high: float | None
    mean: float | None


def series(points: Points) -> Series:
    values = [v for _, v in points if v is not None]
    if not values:
        return Series(tuple(points), None, None, None)
    return Series(tuple(points), min(values), max(values), sum(values) / len(values))


class DetailLoaded(Message):
    def __init__(self, detail: ServerDetail) -> None:
        super().__init__()
        self.detail = detail


class HistoryLoaded(Message):
    def __init__(
        self, period: str, since: datetime, until: datetime, cpu: Series, disk: Series
    ) -> None:
        super().__init__()
        self.period = period
        self.since = since
        self.until = until
        self.cpu = cpu
        self.disk = disk


class DetailScreen(NlsScreen):
    CONTEXT: ClassVar[Context] = "detail"
    BINDINGS = bindings_for("detail")
    DEFAULT_CSS = """
    DetailScreen VerticalScroll { height: 1fr; padding: 0 1; }
    DetailScreen .section { text-style: bold; color: $text-accent; margin-top: 1; }
    DetailScreen #facts, DetailScreen #availability { height: auto; }
    DetailScreen .plot-row { height: 1; }
    DetailScreen .plot-label { width: 12; }
    DetailScreen .plot-stats { width: 1fr; color: $text-muted; }
    DetailScreen TimePlot, DetailScreen TimeAxis { width: 1fr; }
    DetailScreen DataTable { height: auto; max-height: 14; }
    """

    def __init__(self, server_id: str) -> None:
        super().__init__()
        self.server_id = server_id
        self.period_index = 0
        self.detail: ServerDetail | None = None

    def compose(self) -> ComposeResult:
        yield NlsHeader(f"Server {self.server_id}")
        with VerticalScroll():
            yield Static("loading…", id="facts")
            yield Label(
                f"Availability, last {AVAILABILITY_DAYS} d",
                classes="section",
                id="availability-title",
            )
            yield Static("", id="availability")
            yield Label("History", classes="section", id="history-title")
            for key, name in (("cpu", "CPU"), ("disk", "Disk write")):
                with Horizontal(classes="plot-row"):
                    yield Static(name, classes="plot-label")
                    yield Static("", id=f"{key}-stats", classes="plot-stats")
                with Horizontal(classes="plot-row"):
                    yield Static("", classes="plot-label")
                    yield TimePlot(id=key)
            with Horizontal(classes="plot-row"):
                yield Static("", classes="plot-label")
                yield TimeAxis(id="axis")
            yield Label("Cameras", classes="section", id="cameras-title")
            yield DataTable(id="cameras", cursor_type="row", zebra_stripes=True)
            yield Label("Latest samples", classes="section")
            yield DataTable(id="latest", cursor_type="row", zebra_stripes=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.load_detail()
        self.load_history()

    @property
    def period(self) -> tuple[str, timedelta]:
        return PERIODS[self.period_index]

    @work(exclusive=True, group="detail", exit_on_error=False)
    async def load_detail(self) -> None:
        detail = await self.source.server_detail(self.server_id)
        self.post_message(DetailLoaded(detail))

    @work(exclusive=True, group="history", exit_on_error=False)
    async def load_history(self) -> None:
        label, span = self.period
        until = self.nls_app.clock()
        since = until - span
        cpu = await self.source.history(self.server_id, "cpu", since)
        disk = await self.source.history(self.server_id, "disk_activity", since)
        self.post_message(HistoryLoaded(label, since, until, series(cpu), series(disk)))

    def rows_changed(self, server_ids: set[str]) -> None:
        if self.server_id in server_ids:
            self.load_detail()

    def on_detail_loaded(self, message: DetailLoaded) -> None:
        detail = self.detail = message.detail
        row = detail.row
        now = self.nls_app.clock()
        names = {c.camera_id: c.name for c in detail.cameras}
        status = STATUS_LABEL.get(row.status, STATUS_LABEL["unknown"])
        lines = [
            Content.assemble(
                (row.name, "bold"),
                f"  ({row.server_id})  ",
                (status, _status_style(row.status)),
            ),
            Content(f"{'customer':<12} {row.customer_name} ({row.customer_id})"),
            Content(f"{'installer':<12} {row.installer_name} ({row.installer_id})"),
            Content(
                f"{'last check':<12} {_when(row.last_check)} "
                f"({format_age(row.last_check, now)} ago)"
                + (f"   quiet until {_when(row.quiet_until)}" if row.quiet_until else "")
            ),
        ]
        lines += [
            Content(f"{key.replace('_', ' '):<12} {value}")
            for key, value in detail.facts.items()
            if value not in (None, "") and key not in SHOWN_ABOVE
        ]
        if row.note:
            lines.append(Content(f"{'note':<12} {row.note}"))
        if row.failing:
            lines.append(
                Content.assemble((f"{'failing':<12} ", ""), (format_failing(row), "$text-error"))
            )
            for f in row.failing:
                label = names.get(f.subject, f.subject)
                what = f.detail if not label or label in f.detail else f"{label}: {f.detail}"
                told = (
                    f"installer alerted {_when(f.alerted_at)}"
                    if f.alerted_at is not None
                    else "installer not alerted (yet)"
                )
                lines.append(Content(f"  {f.check:<13} {what}"))
                lines.append(
                    Content.assemble(
                        f"  {'':<13} {_checks(f.consecutive)} · ",
                        (told, "$text-success" if f.alerted_at else "$text-muted"),
                    )
                )
        self.query_one("#facts", Static).update(Content("\n").join(lines))
        self._show_availability(detail)
        counts = {"ok": 0, "fail": 0, "unknown": 0}
        for cam in detail.cameras:
            counts[cam.state] = counts.get(cam.state, 0) + 1
        fill_table(
            self.query_one("#cameras", DataTable),
            ("Camera", STATE, "Since", "Detail"),
            (
                (
                    cam.camera_id,
                    (
                        cam.name,
                        Content.styled(cam.state.upper(), STATE_STYLE.get(cam.state, "")),
                        _when(cam.since),
                        cam.detail,
                    ),
                )
                for cam in detail.cameras
            ),
        )
        title = f"Cameras: {counts['ok']}/{len(detail.cameras)} online"
        if counts["unknown"]:
            title += f", {counts['unknown']} not checked"
        self.query_one("#cameras-title", Label).update(title)
        fill_table(
            self.query_one("#latest", DataTable),
            ("Time", "Check", "Subject", STATE, "Value", "Detail"),
            (
                (
                    None,
                    (
                        sample.ts.strftime("%H:%M:%S"),
                        SHORT_CHECK.get(sample.check, sample.check),
                        names.get(sample.subject, sample.subject),
                        Content.styled(sample.state.upper(), STATE_STYLE.get(sample.state, "")),
                        _value(sample.check, sample.value),
                        sample.detail,
                    ),
                )
                for sample in detail.latest
            ),
        )

    def _show_availability(self, detail: ServerDetail) -> None:
        """Per check; none at all while the figures rest on less than a day of data."""
        row = detail.row
        shown = availability_text(row.availability_30d, row.availability_known_s)
        title = f"Availability, last {AVAILABILITY_DAYS} d"
        known = row.availability_known_s
        if shown == "n/a":
            text = "n/a: less than a day of data so far" if detail.availability else MISSING
        else:
            text = "   ".join(
                f"{check} {_pct(value)}" for check, value in detail.availability.items()
            )
            if shown.startswith("~") and known is not None:
                title += f" (only {known / 86400:.1f} d of data)"
        self.query_one("#availability-title", Label).update(title)
        self.query_one("#availability", Static).update(text or MISSING)

    def on_history_loaded(self, message: HistoryLoaded) -> None:
        self.query_one("#history-title", Label).update(
            f"History, last {message.period}, times in UTC (t: 24 h · 7 d · 30 d)"
        )
        for key, data, fmt, top in (
            ("cpu", message.cpu, lambda v: f"{v:.0f}%", 100.0),
            ("disk", message.disk, format_rate, 0.0),
        ):
            if data.mean is None:
                text = "no data"
            else:
                text = f"{fmt(data.low)} to {fmt(data.high)}, mean {fmt(data.mean)}"
            self.query_one(f"#{key}-stats", Static).update(text)
            self.query_one(f"#{key}", TimePlot).show(data.points, message.since, message.until, top)
        self.query_one("#axis", TimeAxis).span = (message.since, message.until)

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_cycle_period(self) -> None:
        self.period_index = (self.period_index + 1) % len(PERIODS)
        self.load_history()

    def action_refresh(self) -> None:
        self.load_detail()
        self.load_history()

    def action_check_now(self) -> None:
        self._check_now()

    @work(exclusive=True, group="check", exit_on_error=False)
    async def _check_now(self) -> None:
        self.notify(f"Probing {self.server_id}…", timeout=2)
        result = await self.source.check_now([self.server_id])
        stored = len(result.samples)
        noun = "sample" if stored == 1 else "samples"
        self.notify(f"{self.server_id}: {stored} {noun} stored", timeout=3)
        self.load_detail()


def _status_style(status: str) -> str:
    return {
        "up": "$text-success",
        "problem": "$text-warning bold",
        "down": "$text-error bold",
    }.get(status, "$text-muted")
