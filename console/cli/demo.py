"""`nls demo`: the console on a simulated fleet in this process, nothing else needed."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import click

from console.cli import output
from console.cli.check import SUMMARY_COLUMNS, summary
from console.cli.main import require_console, standalone
from console.config import load_config
from console.fleetview import CheckResult
from console.sources import open_source

DEMO_INTERVAL = "20s"


@standalone
@click.command()
@click.option(
    "--servers",
    "count",
    type=click.IntRange(1, 2000),
    default=200,
    show_default=True,
    help="How many servers to simulate.",
)
@click.option(
    "--installers",
    type=click.IntRange(1, 6),
    default=6,
    show_default=True,
    help="Installers the servers belong to (not with --once).",
)
@click.option(
    "--customers",
    type=click.IntRange(1, 500),
    default=40,
    show_default=True,
    help="Customers the servers belong to (not with --once).",
)
@click.option(
    "--interval",
    default=DEMO_INTERVAL,
    show_default=True,
    help="Time between checks (production: 15m); a fault is confirmed at the third check.",
)
@click.option(
    "--once", is_flag=True, help="No console: run one cycle on the simulated fleet and print it."
)
def demo(count: int, installers: int, customers: int, interval: str, once: bool) -> None:
    """The live console on a simulated fleet in this process, with a few faults set.

    Needs nothing else: no configuration, no servers, no daemon. The demo checks every 20 s
    (--interval), not every 15 minutes as in production, so a fault turns from PEND to PROB
    within a minute. --once prints one cycle instead, for a terminal without a screen.
    """
    if not once:
        require_console()
        from console.tui.launch import run_demo

        sys.exit(
            run_demo(servers=count, installers=installers, customers=customers, interval=interval)
        )
    with tempfile.TemporaryDirectory(prefix="nls-demo-") as tmp:
        database, result = asyncio.run(_once(count, Path(tmp) / "demo.toml"))
        output.table(SUMMARY_COLUMNS, summary(result))
        failed = sum(1 for s in result.samples if s.state == "fail")
        click.echo(
            f"\n{len(result.samples)} samples stored, {failed} failing; database was {database}"
        )


async def _once(count: int, path: Path) -> tuple[Path, CheckResult]:
    """One cycle on a simulated fleet with a few faults set, as `nls check` runs it."""
    from console.simconfig import write_sim_config
    from probes.simulator.fleet import build_fleet

    faults = [("camera_offline", {"camera": 0}), ("port_closed", {}), ("rights_granted", {})]
    fleet = build_fleet(count, http_port=0)  # never collides with a running `nls simulate`
    await fleet.start()
    try:
        for server, (fault, extra) in zip(list(fleet.servers)[1:], faults, strict=False):
            fleet.set_fault(server, fault, camera=extra.get("camera"))
        config = load_config(write_sim_config(path, fleet))
        async with open_source(config) as source:
            return config.database_path, await source.check_now()
    finally:
        await fleet.stop()
