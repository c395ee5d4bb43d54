"""The whole console (NlsApp on a FleetSource) at 10,000 servers / 300,000 cameras: issue 4's
figures with the app's real data path (source worker, typed messages, batch_update, header).

Run: .venv/bin/python bench/bench_console.py [--servers 10000] [--size 160x50]

- first paint: from constructing the app to the end of the first grid render pass that shows
  the snapshot (headless driver: no terminal I/O).
- filter keystroke: a key typed in the search input, to the end of the grid's repaint.
- live update: `source.push(batch)` (what the engine does after a stored batch) to the end of
  the grid's repaint, for one phase slot (~1/90 of the fleet at a 15 min interval) and for a
  whole cycle's worth of rows in one batch (the worst case).
- memory: peak RSS of the process (everything: Python, Textual, 10,000 rows), and separately
  the traced Python heap of a second run (tracemalloc slows Python, so its times are not used).

Targets: first paint < 1.5 s, filter < 100 ms, live update < 50 ms, memory < 400 MB.

With --socket PATH the console attaches to a running `nls --daemon` (bench/bench_daemon.py
--console starts one over a simulated fleet) and measures first paint and filter keystrokes
through the real RemoteSource while the daemon probes.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_grid import NOW, churn, make_fleet

from console.tui.app import NlsApp
from console.tui.grid import FleetGrid
from tests.memsource import MemorySource

SLOTS_PER_CYCLE = 90
PAINTS: list[tuple[float, int, int]] = []
"""(time, rows held, rows visible) at the end of every grid render pass."""

_render_lines = FleetGrid.render_lines


def _timed_render_lines(self: FleetGrid, crop: Any) -> Any:
    strips = _render_lines(self, crop)
    PAINTS.append((time.perf_counter(), self.model.total, len(self.model)))
    return strips


FleetGrid.render_lines = _timed_render_lines  # type: ignore[method-assign]


def paint_after(t0: float) -> float | None:
    return next((t for t, _, _ in PAINTS if t >= t0), None)


def with_visible(grid: FleetGrid, batch: list[Any], height: int) -> list[Any]:
    """Make sure the batch changes rows on screen, so there is a repaint to time."""
    on_screen = {grid.model.id_at(i) for i in range(min(height, len(grid.model)))}
    fresh = {r.server_id: r for r in churn(list(map(grid.model.get, on_screen)), 10, seed=7)}
    kept = [r for r in batch if r.server_id not in fresh]
    return [*fresh.values(), *kept[: len(batch) - len(fresh)]]


async def until(pilot: Any, predicate: Any, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {predicate}")
        await pilot.pause()


async def measure(
    servers: int, size: tuple[int, int], traced: bool, socket: Path | None = None
) -> dict[str, str]:
    if traced:
        tracemalloc.start()
    rows: list[Any] = []
    if socket is not None:
        from console.daemon.remote import RemoteSource

        source: Any = RemoteSource(socket)
    else:
        rows = make_fleet(servers)
        source = MemorySource(rows, clock=lambda: NOW, next_cycle=NOW + timedelta(minutes=15))
    figures: dict[str, str] = {}
    PAINTS.clear()
    with TemporaryDirectory() as state:
        started = time.perf_counter()
        app = NlsApp(source, clock=lambda: NOW, state_dir=Path(state), watch_hangup=False)
        async with app.run_test(size=size) as pilot:
            if socket is not None:
                await until(pilot, lambda: any(total > 0 for _, total, _ in PAINTS))
                servers = next(total for _, total, _ in PAINTS if total > 0)
                figures["servers through the daemon"] = f"{servers}"
            await until(pilot, lambda: any(total == servers for _, total, _ in PAINTS))
            first = next(t for t, total, _ in PAINTS if total == servers)
            figures["first paint (app start to grid shown)"] = f"{(first - started) * 1000:.0f} ms"
            grid = app.query_one(FleetGrid)

            async def timed(label: str, act: Any, done: Any) -> None:
                t0 = time.perf_counter()
                await act()
                await until(pilot, lambda: done() and paint_after(t0) is not None)
                painted = paint_after(t0)
                assert painted is not None
                figures[label] = f"{(painted - t0) * 1000:6.1f} ms"

            await pilot.press("slash")
            typed = ""
            for key in "crest-0042":
                typed += key

                async def press(key: str = key) -> None:
                    await pilot.press(key)

                await timed(
                    f"filter keystroke {typed!r:>14}",
                    press,
                    lambda typed=typed: grid.filter.text == typed,
                )
            for _ in typed:
                await pilot.press("backspace")
            await pilot.press("enter")
            await until(pilot, lambda: len(grid.model) == servers)
            if socket is not None:
                figures["peak RSS (whole process)"] = (
                    f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
                )
                return figures

            slot = max(1, servers // SLOTS_PER_CYCLE)
            for count, label in ((slot, "one slot"), (servers, "a whole cycle")):
                batch = with_visible(grid, churn(rows, count, seed=count), size[1])
                before = app.batches

                async def push(batch: list[Any] = batch) -> None:
                    source.push(batch)

                await timed(
                    f"live update, {label} ({count} rows)",
                    push,
                    lambda before=before: app.batches > before,
                )
            figures["header after the updates"] = (
                f"{app.status.counts.up} up / {app.status.counts.problem} problem / "
                f"{app.status.counts.down} down, {app.status.counts.cameras_offline} cams offline"
            )
            if traced:
                _, peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
                return {"peak traced Python heap (rows included)": f"{peak / 1e6:.0f} MB"}
    figures["peak RSS (whole process)"] = (
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--servers", type=int, default=10_000)
    parser.add_argument("--size", default="160x50", help="terminal columns x rows")
    parser.add_argument("--socket", type=Path, help="attach to this running nls --daemon")
    args = parser.parse_args()
    width, height = (int(n) for n in args.size.split("x"))
    if args.socket:
        figures = asyncio.run(measure(0, (width, height), traced=False, socket=args.socket))
        print(f"nls console attached to {args.socket}, {args.size}")
        for label, value in figures.items():
            print(f"  {label:<42} {value}")
        return
    figures = asyncio.run(measure(args.servers, (width, height), traced=False))
    figures |= asyncio.run(measure(args.servers, (width, height), traced=True))
    print(f"nls console, {args.servers} servers, {args.servers * 30} cameras, {args.size}")
    for label, value in figures.items():
        print(f"  {label:<42} {value}")


if __name__ == "__main__":
    main()
