"""Monthly availability (issue 12): one accounting for every row, worst first, by installer,
customer, server or camera; `[` and `]` change the month, `b` the grouping, `e` exports the
rows shown to any report format. A scoped console's source only ever returns its own rows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from textual import work
from textual.content import Content

from console.reports.period import Month
from console.tui.bindings import Context, bindings_for
from console.tui.screens.base import ListScreen, Row
from console.tui.screens.picker import PickerScreen
from console.tui.screens.sql import ExportScreen

GROUPINGS = ("installer", "customer", "server", "camera")
FORMATS = ("csv", "json", "parquet", "xlsx", "html")
FIGURES = (
    ("availability_pct", "Avail %"),
    ("target_pct", "Target"),
    ("met", "Met"),
    ("downtime_minutes", "Down min"),
    ("confirmed_downtime_minutes", "Confirmed"),
    ("excluded_minutes", "Excluded"),
    ("unknown_minutes", "Unknown"),
    ("outages", "Outages"),
    ("longest_outage_minutes", "Longest"),
)


def worst_first(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Lowest availability first, then most downtime, then by key (stable for equal rows)."""
    return sorted(
        rows,
        key=lambda r: (r["availability_pct"], -r["downtime_minutes"], str(next(iter(r.values())))),
    )


class AvailabilityScreen(ListScreen):
    CONTEXT: ClassVar[Context] = "availability"
    TITLE = "Availability"
    BINDINGS = bindings_for("availability")
    SUMMARY_ID = "availability-summary"
    TABLE_ID = "availability"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.month: Month | None = None  # the previous month, once the app's clock is known
        self.by = "installer"
        self.table: Any = None

    def _month(self) -> Month:
        if self.month is None:
            now = self.nls_app.clock()
            self.month = Month(now.year, now.month).previous()
        return self.month

    @property
    def COLUMNS(self) -> tuple[str, ...]:  # type: ignore[override]
        return (self.by.capitalize(), *(label for _, label in FIGURES))

    async def fetch(self) -> list[dict[str, Any]]:
        import pyarrow as pa

        month, by = str(self._month()), self.by
        got = await self.source.report("availability", month, by)  # type: ignore[arg-type]
        rows = worst_first(got.to_pylist())
        self.table = pa.Table.from_pylist(rows, schema=got.schema)  # exported as shown
        return rows

    def rows(self, items: Sequence[dict[str, Any]]) -> Iterable[Row]:
        for row in items:
            key = str(row[self.by])
            met = row["met"]
            cells: list[Any] = [key]
            for name, _ in FIGURES:
                value = row[name]
                if name == "met":
                    cells.append(
                        Content.styled("yes", "$text-success")
                        if met
                        else Content.styled("NO", "$text-error bold")
                    )
                elif name == "availability_pct":
                    cells.append(Content.styled(f"{value:.4f}", "" if met else "$text-error"))
                else:
                    cells.append(f"{value:g}" if isinstance(value, float) else str(value))
            yield key, cells

    def summary(self, items: Sequence[dict[str, Any]]) -> str:
        missed = sum(1 for r in items if not r["met"])
        return (
            f"{self._month()} by {self.by}: {len(items)} rows, {missed} below target "
            "(worst first) · [ ] month · b grouping · e export · r reload"
        )

    def action_month(self, step: int) -> None:
        month = self._month()
        self.month = month.next() if step > 0 else month.previous()
        self.load()

    def action_grouping(self) -> None:
        self.by = GROUPINGS[(GROUPINGS.index(self.by) + 1) % len(GROUPINGS)]
        self.load()

    def action_export_report(self) -> None:
        if self.table is None:
            self.notify("Nothing to export yet.", severity="warning")
            return

        def format_chosen(fmt: str | None) -> None:
            if not fmt:
                return
            default = Path.cwd() / f"availability-{self._month()}-{self.by}.{fmt}"

            def path_chosen(path: Path | None) -> None:
                if path is not None:
                    self.export(path, fmt)

            self.app.push_screen(ExportScreen(fmt, default), path_chosen)

        options = [(f, f.upper()) for f in FORMATS]
        self.app.push_screen(PickerScreen("Export format", options), format_chosen)

    @work(thread=True, exclusive=True, group="export", exit_on_error=False)
    def export(self, path: Path, fmt: str) -> None:
        """Write the rows shown on a thread (the file system is I/O), atomically."""
        from console.reports.accounting import RULES_VERSION
        from console.reports.export import export

        table = self.table
        meta = {"month": str(self._month()), "by": self.by, "rules_version": RULES_VERSION}
        export(table, fmt, path, title=f"availability {self._month()}", meta=meta)
        self.app.call_from_thread(
            self.notify, f"Wrote {table.num_rows:,} rows to {path}", title="Export", timeout=6
        )
