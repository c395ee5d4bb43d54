"""Typed messages from the source workers to the UI: workers never touch widgets themselves."""

from __future__ import annotations

from textual.message import Message

from console.fleetview import FleetSnapshot, ServerRow, SourceInfo


class SnapshotLoaded(Message):
    """A full snapshot arrived: the grid reloads every row."""

    def __init__(self, snapshot: FleetSnapshot) -> None:
        super().__init__()
        self.snapshot = snapshot


class RowsChanged(Message):
    """One stored probe batch changed these rows."""

    def __init__(self, rows: tuple[ServerRow, ...]) -> None:
        super().__init__()
        self.rows = rows


class InfoLoaded(Message):
    """Fresh source facts (next cycle, mode, scope) for the header."""

    def __init__(self, info: SourceInfo) -> None:
        super().__init__()
        self.info = info


class SourceClosed(Message):
    """The source's update stream ended (engine stopped, daemon gone)."""
