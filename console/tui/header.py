"""The console's two-line header: fleet counts, next cycle, mode, scope and the active filter.

Every screen mounts its own header; all of them render the app's one `ConsoleStatus`, so the
counts an operator reads on the SQL screen are the same as on the grid.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, cast

from textual.content import Content
from textual.widget import Widget

from console.fleetview import FleetCounts
from console.tui.gridmodel import STATUS_LABEL

if TYPE_CHECKING:
    from console.tui.app import NlsApp


@dataclass(frozen=True, slots=True)
class ConsoleStatus:
    """What the header shows; replaced as a whole so one watcher sees one consistent state."""

    counts: FleetCounts = field(default_factory=FleetCounts)
    visible: int = 0
    filter: str = "all"
    next_cycle: datetime | None = None
    mode: str = "embedded"
    installer: str | None = None
    loading: bool = True
    closed: bool = False
    health: str = ""
    """The monitor's self-health alarm (empty when all is well)."""
    lag_s: float | None = None
    """How late the last slot's probes started; shown when a slot overran (10 s or more)."""


def format_countdown(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "—"
    seconds = int((when - now).total_seconds())
    if seconds <= 0:
        return "due"
    if seconds < 3600:
        return f"{seconds // 60}:{seconds % 60:02d}"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}"


def late_text(lag_s: float | None) -> str:
    """The schedule's lag, only when a slot started a whole slot (10 s) late or more."""
    if lag_s is None or lag_s < 10:
        return ""
    return f"  ⏱ probes {lag_s:.0f} s behind schedule"


def header_content(
    title: str, status: ConsoleStatus, now: datetime, width: int | None = None
) -> Content:
    """Two lines; at a `width` too narrow for the full words, the same facts abbreviated on
    purpose (the grid's own PEND / PROB), so nothing is cut off mid-word."""
    lines = []
    for line in (_counts_line, _state_line):
        text = line(title, status, now, False)
        if width is not None and text.cell_length > width:
            text = line(title, status, now, True)
        lines.append(text)
    return Content("\n").join(lines)


def _counts_line(title: str, status: ConsoleStatus, now: datetime, compact: bool) -> Content:
    c = status.counts
    symbol = {s: STATUS_LABEL[s].split()[0] for s in ("up", "pending", "problem", "down")}
    words = (
        {"pending": "pend", "problem": "prob", "offline": "cams off"}
        if compact
        else {"pending": "pending", "problem": "problem", "offline": "cams offline"}
    )
    gap = " " if compact else "  "
    # Failures not yet confirmed (below the alert threshold); shown only while there are some.
    pending = (
        ((f"{symbol['pending']} {c.pending} {words['pending']}", "$text-warning"), gap)
        if c.pending
        else ()
    )
    return Content.assemble(
        (" nls ", "bold reverse"),
        " ",
        (title, "bold"),
        " │ ",
        (f"{symbol['up']} {c.up} up", "$text-success"),
        gap,
        *pending,
        (
            f"{symbol['problem']} {c.problem} {words['problem']}",
            "$text-warning bold" if c.problem else "",
        ),
        gap,
        (f"{symbol['down']} {c.down} down", "$text-error bold" if c.down else ""),
        " │ " if compact else "  ",
        (
            f"{c.cameras_offline} {words['offline']}",
            "$text-warning" if c.cameras_offline else "",
        ),
        " │ ",
        f"{c.servers} server{'' if c.servers == 1 else 's'}",
    )


def _state_line(title: str, status: ConsoleStatus, now: datetime, compact: bool) -> Content:
    c = status.counts
    if status.loading:
        state = "loading…"
    elif status.closed:
        state = "disconnected"
    else:
        state = f"{'next' if compact else 'next cycle'} {format_countdown(status.next_cycle, now)}"
    # The scope is who this console may see; the filter, what the grid shows of it. Only a
    # scoped console names a scope, so the two never read as a contradiction.
    scope = (
        ((f"installer {status.installer} only", "$text-primary"), " · ") if status.installer else ()
    )
    filtered = status.filter != "all"
    shown = f"{status.visible}/{c.servers}{'' if compact else ' shown'}" if filtered else ""
    return Content.assemble(
        " ",
        (status.mode, "$text-accent bold"),
        " · ",
        (state, "$text-error bold" if status.closed else ""),
        " · ",
        *scope,
        "filter: ",
        (status.filter, "$text-accent" if filtered else "$text-muted"),
        (f"  {shown}" if shown else "", "$text-muted"),
        (f"  ⚠ {status.health}" if status.health else "", "$text-error bold"),
        (late_text(status.lag_s), "$text-warning bold"),
    )


class NlsHeader(Widget):
    """Two lines docked at the top; re-rendered when the status changes and once a second for
    the next-cycle countdown."""

    DEFAULT_CSS = """
    NlsHeader {
        dock: top;
        height: 2;
        background: $panel;
        color: $foreground;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    def __init__(self, title: str, *, clock: Callable[[], datetime] | None = None) -> None:
        super().__init__()
        self.title = title
        self._clock = clock

    @property
    def nls_app(self) -> NlsApp:
        return cast("NlsApp", self.app)

    def on_mount(self) -> None:
        self.watch(self.app, "status", self._status_changed, init=False)
        self.set_interval(1.0, self.refresh)

    def _status_changed(self) -> None:
        self.refresh()

    def render(self) -> Content:
        clock = self._clock or self.nls_app.clock
        return header_content(self.title, self.nls_app.status, clock(), self.size.width)
