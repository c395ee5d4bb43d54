"""Figures for the fleet grid at 10,000 servers / 300,000 cameras (issue 4's benchmark).

Run: .venv/bin/python bench/bench_grid.py [--servers 10000]

Each figure runs from the call (load, keystroke's filter, update batch) to the end of the grid's
render pass that shows it; `pilot.pause()` returns after the screen's pending repaint has run, and
its own return time, which adds Textual's idle wait, is shown alongside. "lines" counts
`render_line` calls, to show that an update repaints only the changed visible rows.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import random
import resource
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from textual.app import App, ComposeResult

from console.fleetview import Failing, ServerRow
from console.tui.grid import FleetGrid
from console.tui.gridmodel import GridFilter

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
STATUSES = ("up",) * 90 + ("problem",) * 5 + ("down",) * 2 + ("quiet", "maintenance", "unknown")


def make_fleet(servers: int, seed: int = 4) -> list[ServerRow]:
    """A fleet of ``servers`` with 30 cameras each, 6 installers x 40 customers style names."""
    rng = random.Random(seed)
    rows = []
    for n in range(servers):
        status = rng.choice(STATUSES)
        total = 30
        online = total if status == "up" else rng.randint(0, total)
        failing = ()
        if status in ("problem", "down"):
            cameras = [
                Failing("camera", f"cam{c}", rng.randint(1, 9), "no frames")
                for c in range(min(3, total - online))
            ]
            failing = (*cameras, Failing("cpu", "", rng.randint(1, 4), "high"))
        customer = n % 400
        rows.append(
            ServerRow(
                server_id=f"srv-{n:05d}",
                name=f"crest-{n:05d}.site{customer:03d}",
                customer_id=f"c{customer:03d}",
                customer_name=f"Customer {customer:03d} Retail",
                installer_id=f"i{customer % 60:02d}",
                installer_name=f"Installer {customer % 60:02d}",
                status=status,
                cameras_online=online,
                cameras_total=total,
                cpu_pct=rng.uniform(3, 99),
                disk_write_bps=rng.uniform(1e5, 4e8),
                last_check=NOW - timedelta(seconds=rng.randint(0, 600)),
                failing=failing,
                availability_30d=rng.uniform(0.95, 1.0),
            )
        )
    return rows


def churn(rows: list[ServerRow], count: int, seed: int) -> list[ServerRow]:
    """``count`` rows with new CPU, disk and check time, as one probe cycle would report."""
    rng = random.Random(seed)
    picked = rng.sample(rows, count)
    return [
        dataclasses.replace(
            r,
            cpu_pct=rng.uniform(3, 99),
            disk_write_bps=rng.uniform(1e5, 4e8),
            last_check=NOW,
        )
        for r in picked
    ]


class TimedGrid(FleetGrid):
    """Notes when a render pass of the grid finished."""

    first_paint: float | None = None
    painted: float = 0.0

    def render_lines(self, crop):  # type: ignore[no-untyped-def]
        strips = super().render_lines(crop)
        self.painted = time.perf_counter()
        if self.first_paint is None:
            self.first_paint = self.painted
        return strips


class BenchApp(App[None]):
    def __init__(self, rows: list[ServerRow]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        yield TimedGrid(self.rows, clock=lambda: NOW, age_refresh=None)


async def measure(servers: int, traced: bool) -> dict[str, str]:
    """One run; with ``traced`` only memory is reported, since tracemalloc slows Python ~3x."""
    rows = make_fleet(servers)
    figures: dict[str, str] = {}
    if traced:
        tracemalloc.start()
    started = time.perf_counter()
    app = BenchApp(rows)
    async with app.run_test(size=(160, 50)) as pilot:
        grid = app.query_one(TimedGrid)
        await pilot.pause()
        assert grid.first_paint is not None
        figures["first paint"] = f"{(grid.first_paint - started) * 1000:.0f} ms"
        await timed_noop(pilot, figures)

        async def timed(label: str, action) -> None:  # type: ignore[no-untyped-def]
            lines = grid.lines_rendered
            t0 = time.perf_counter()
            action()
            await pilot.pause()
            drawn = grid.lines_rendered - lines
            repaint = (grid.painted - t0) * 1000 if drawn else float("nan")
            total = (time.perf_counter() - t0) * 1000
            figures[label] = f"{repaint:6.1f} ms  (pause returned {total:5.1f} ms, {drawn} lines)"

        for i, text in enumerate(("c", "cu", "cus", "c01", "c012", "c01")):
            await timed(f"filter keystroke {i + 1} {text!r}", lambda t=text: grid.search(t))
        await timed("filter clear", lambda: grid.search(""))
        await timed("problems only", lambda: grid.set_filter(GridFilter(statuses={"problem"})))
        await timed("filter clear (status)", lambda: grid.set_filter(GridFilter()))
        await timed("sort by cpu", lambda: grid.sort_by("cpu"))
        for count in (500, servers):
            batch = churn(rows, min(count, servers), seed=count)
            await timed(
                f"live update {len(batch)} rows (sorted by cpu)",
                lambda b=batch: grid.apply_updates(b),
            )
        grid.sort_by("server")
        await pilot.pause()
        for count in (500, servers):
            batch = churn(rows, min(count, servers), seed=count + 1)
            await timed(
                f"live update {len(batch)} rows (sorted by name)",
                lambda b=batch: grid.apply_updates(b),
            )
        await timed("page down", grid.action_page_down)
        if traced:
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            return {"peak traced memory (Python heap)": f"{peak / 1e6:.0f} MB"}
    figures["max RSS (whole process)"] = (
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )
    return figures


async def timed_noop(pilot, figures: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    """What ``pilot.pause()`` costs by itself, to read the other figures against."""
    t0 = time.perf_counter()
    await pilot.pause()
    figures["baseline: pilot.pause() with nothing to do"] = (
        f"{(time.perf_counter() - t0) * 1000:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--servers", type=int, default=10_000)
    args = parser.parse_args()
    figures = asyncio.run(measure(args.servers, traced=False))
    figures |= asyncio.run(measure(args.servers, traced=True))
    print(f"fleet grid, {args.servers} servers, {args.servers * 30} cameras")
    for label, value in figures.items():
        print(f"  {label:<42} {value}")


if __name__ == "__main__":
    main()
