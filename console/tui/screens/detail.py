"""One server: facts, every camera with its state and since when, CPU and disk history as
sparklines over 24 h / 7 d / 30 d, the latest samples, and availability per check."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable, Footer, Label, Sparkline, Static

from console.fleetview import ServerDetail
from console.tui.bindings import Context, bindings_for
from console.tui.gridmodel import (
    MISSING,
    STATUS_LABEL,
    format_age,
    format_failing,
    format_rate,
)
from console.tui.header import NlsHeader
from console.tui.screens.base import NlsScreen

PERIODS: tuple[tuple[str, timedelta], ...] = (
    ("24 h", timedelta(days=1)),
    ("7 d", timedelta(days=7)),
    ("30 d", timedelta(days=30)),
)
SHOWN_ABOVE = frozenset({"customer", "installer", "quiet_until"})
STATE_STYLE = {"ok": "$text-success", "fail": "$text-error bold", "unknown": "$text-muted"}


def _when(value: datetime | None) -> str:
    return MISSING if value is None else value.strftime("%Y-%m-%d %H:%M")


def _pct(value: float | None) -> str:
    return MISSING if value is None else f"{value * 100:.2f}%"


def _value(check: str, value: float | None) -> str:
    if value is None:
        return ""
    if check == "disk_activity":
        return format_rate(value)
    if check == "cpu":
        return f"{value:.0f}%"
    return f"{value:g}"


@dataclass(frozen=True, slots=True)
class Series:
    values: list[float]
    low: float | None
    high: float | None
    mean: float | None


def series(points: list[tuple[datetime, float | None]]) -> Series:
    values = [v for _, v in points if v is not None]
    if not values:
        return Series([], None, None, None)
    return Series(values, min(values), max(values), sum(values) / len(values))


class DetailLoaded(Message):
    def __init__(self, detail: ServerDetail) -> None:
        super().__init__()
        self.detail = detail


class HistoryLoaded(Message):
    def __init__(self, period: str, cpu: Series, disk: Series) -> None:
        super().__init__()
        self.period = period
        self.cpu = cpu
        self.disk = disk


class DetailScreen(NlsScreen):
    CONTEXT: ClassVar[Context] = "detail"
    BINDINGS = bindings_for("detail")
    DEFAULT_CSS = """
    DetailScreen VerticalScroll { height: 1fr; padding: 0 1; }
    DetailScreen .section { text-style: bold; color: $text-accent; margin-top: 1; }
    DetailScreen #facts, DetailScreen #availability { height: auto; }
    DetailScreen .spark-row { height: 2; }
    DetailScreen .spark-label { width: 32; }
    DetailScreen Sparkline { width: 1fr; height: 2; }
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
            yield Label("Availability (30 d)", classes="section")
            yield Static("", id="availability")
            yield Label("History", classes="section", id="history-title")
            with Horizontal(classes="spark-row"):
                yield Static("CPU", id="cpu-label", classes="spark-label")
                yield Sparkline([], id="cpu")
            with Horizontal(classes="spark-row"):
                yield Static("Disk write", id="disk-label", classes="spark-label")
                yield Sparkline([], id="disk")
            yield Label("Cameras", classes="section", id="cameras-title")
            yield DataTable(id="cameras", cursor_type="row", zebra_stripes=True)
            yield Label("Latest samples", classes="section")
            yield DataTable(id="latest", cursor_type="row", zebra_stripes=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        cameras = self.query_one("#cameras", DataTable)
        cameras.add_columns("Camera", "State", "Since", "Detail")
        latest = self.query_one("#latest", DataTable)
        latest.add_columns("Time", "Check", "Subject", "State", "Value", "Detail")
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
        since = self.nls_app.clock() - span
        cpu = await self.source.history(self.server_id, "cpu", since)
        disk = await self.source.history(self.server_id, "disk_activity", since)
        self.post_message(HistoryLoaded(label, series(cpu), series(disk)))

    def rows_changed(self, server_ids: set[str]) -> None:
        if self.server_id in server_ids:
            self.load_detail()

    def on_detail_loaded(self, message: DetailLoaded) -> None:
        detail = self.detail = message.detail
        row = detail.row
        now = self.nls_app.clock()
        status = STATUS_LABEL.get(row.status, STATUS_LABEL["unknown"])
        lines = [
            Content.assemble(
                (row.name, "bold"),
                f"  ({row.server_id})  ",
                (status, _status_style(row.status)),
            ),
            Content(f"customer   {row.customer_name} ({row.customer_id})"),
            Content(f"installer  {row.installer_name} ({row.installer_id})"),
            Content(
                f"last check {_when(row.last_check)} ({format_age(row.last_check, now)} ago)"
                + (f"   quiet until {_when(row.quiet_until)}" if row.quiet_until else "")
            ),
        ]
        lines += [
            Content(f"{key:<10} {value}")
            for key, value in detail.facts.items()
            if value not in (None, "") and key not in SHOWN_ABOVE
        ]
        if row.failing:
            lines.append(
                Content.assemble(("failing    ", ""), (format_failing(row), "$text-error"))
            )
            lines += [
                Content(f"  {f.check} {f.subject} x{f.consecutive}: {f.detail}")
                for f in row.failing
            ]
        if row.note:
            lines.append(Content(f"note       {row.note}"))
        self.query_one("#facts", Static).update(Content("\n").join(lines))
        availability = "   ".join(
            f"{check} {_pct(value)}" for check, value in detail.availability.items()
        )
        self.query_one("#availability", Static).update(availability or MISSING)
        cameras = self.query_one("#cameras", DataTable)
        cameras.clear()
        offline = 0
        for cam in detail.cameras:
            offline += cam.state != "ok"
            cameras.add_row(
                cam.name,
                Content.styled(cam.state.upper(), STATE_STYLE.get(cam.state, "")),
                _when(cam.since),
                cam.detail,
                key=cam.camera_id,
            )
        self.query_one("#cameras-title", Label).update(
            f"Cameras: {len(detail.cameras) - offline}/{len(detail.cameras)} online"
        )
        latest = self.query_one("#latest", DataTable)
        latest.clear()
        for sample in detail.latest:
            latest.add_row(
                sample.ts.strftime("%H:%M:%S"),
                sample.check,
                sample.subject,
                Content.styled(sample.state.upper(), STATE_STYLE.get(sample.state, "")),
                _value(sample.check, sample.value),
                sample.detail,
            )

    def on_history_loaded(self, message: HistoryLoaded) -> None:
        self.query_one("#history-title", Label).update(
            f"History over {message.period} (t: 24 h / 7 d / 30 d)"
        )
        for key, data, fmt in (
            ("cpu", message.cpu, lambda v: f"{v:.0f}%"),
            ("disk", message.disk, format_rate),
        ):
            name = "CPU" if key == "cpu" else "Disk write"
            if data.mean is None:
                text = f"{name}: no data"
            else:
                text = f"{name} {fmt(data.low)}..{fmt(data.high)}\n  mean {fmt(data.mean)}"
            self.query_one(f"#{key}-label", Static).update(text)
            self.query_one(f"#{key}", Sparkline).data = data.values

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
        self.notify(f"{self.server_id}: {len(result.samples)} samples stored", timeout=3)
        self.load_detail()


def _status_style(status: str) -> str:
    return {
        "up": "$text-success",
        "problem": "$text-warning bold",
        "down": "$text-error bold",
    }.get(status, "$text-muted")
