"""Entry points the `nls` command calls: the console (embedded engine or a given source) and the
demo (a simulated fleet with a scenario and a mail sink that accepts the alert mails, in this
process, on a throwaway database).

Everything runs on one asyncio loop: the simulator, the engine's probes and the Textual app, so
`nls demo` needs no second terminal and leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from console.config import Config, load_config
from console.fleetview import FleetSource

DEMO_BASE = "127.88.0.1"
DEMO_HTTP_PORT = 8080
SCENARIO_PERIOD = 300.0
"""The demo scenario repeats every five minutes, so a long-running demo keeps changing."""


def run_console(
    config: Config, *, installer: str | None = None, source: FleetSource | None = None
) -> int:
    """Run the console until the operator quits; returns the exit status.

    Without `source` an embedded FleetService probes in this process; with one (e.g. a daemon
    connection) the app just shows it, and closes it on the way out.
    """
    return asyncio.run(console_main(config, installer=installer, source=source))


async def console_main(
    config: Config, *, installer: str | None = None, source: FleetSource | None = None
) -> int:
    if source is not None:
        try:
            return await _run_app(source, installer)
        finally:
            with contextlib.suppress(Exception):
                await source.close()
    from console.monitor.service import FleetService

    service = FleetService(config)
    await service.start()
    try:
        return await _run_app(service.view(installer), installer, service)
    finally:
        await service.stop()


async def _run_app(source: FleetSource, installer: str | None, service: Any = None) -> int:
    from console.tui.app import NlsApp

    app = NlsApp(source, installer=installer)
    watch = None
    if service is not None:
        # An embedded store beyond repair ends the console with one line and status 1,
        # rather than a screen that looks live while nothing is stored.
        async def fatal() -> None:
            await service.fatal.wait()
            app.exit(return_code=1, message=f"nls: {service.failed}")

        watch = asyncio.create_task(fatal())
    try:
        await app.run_async()
    finally:
        if watch is not None:
            watch.cancel()
    return app.return_code or 0


def demo_scenario(server_ids: list[str]) -> dict[str, Any]:
    """Problems that appear and clear over about four minutes: cameras offline, a closed port,
    video rights granted, HTTP 500s, a hot CPU, an idle disk; then every server heals."""

    def pick(n: int) -> str:
        return server_ids[n % len(server_ids)]

    steps: list[dict[str, Any]] = [
        {"at": "5s", "server": pick(2), "fault": "camera_offline", "camera": 0},
        {"at": "5s", "server": pick(2), "fault": "camera_offline", "camera": 1},
        {"at": "15s", "server": pick(6), "fault": "port_closed"},
        {"at": "25s", "server": pick(11), "fault": "rights_granted"},
        {"at": "35s", "server": pick(17), "fault": "http_500"},
        {"at": "45s", "server": pick(23), "fault": "camera_offline", "camera": 2},
        {"at": "55s", "server": pick(31), "fault": "cpu_high"},
        {"at": "65s", "server": pick(40), "fault": "disk_idle"},
        {"at": "2m", "server": pick(2), "heal": True},
        {"at": "2m30s", "server": pick(6), "heal": True},
        {"at": "3m", "server": pick(11), "heal": True},
        {"at": "3m", "server": pick(17), "heal": True},
        {"at": "4m", "heal": True},
    ]
    return {"step": steps}


def _port_free(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((address, port))
        except OSError:
            return False
    return True


def run_demo(
    *, servers: int = 200, installers: int = 6, customers: int = 40, interval: str = "20s"
) -> int:
    """Start a simulated fleet with a looping fault scenario and open the embedded console."""
    return asyncio.run(
        demo_main(servers=servers, installers=installers, customers=customers, interval=interval)
    )


async def demo_main(
    *,
    servers: int = 200,
    installers: int = 6,
    customers: int = 40,
    interval: str = "20s",
    app_runner: Callable[[Config], Awaitable[int]] | None = None,
) -> int:
    from console.simconfig import write_sim_config
    from probes.simulator.fleet import build_fleet
    from probes.simulator.hosts import add_host_protocols
    from probes.simulator.mailsink import MailSink
    from probes.simulator.scenario import parse_scenario, run_scenario

    port = DEMO_HTTP_PORT if _port_free(DEMO_BASE, DEMO_HTTP_PORT) else 0
    fleet = build_fleet(servers, base=DEMO_BASE, http_port=port)
    host_key = add_host_protocols(fleet, ssh_port=0, rdp_port=0)
    steps = parse_scenario(demo_scenario(list(fleet.servers)), source="demo scenario")
    await fleet.start()

    async def scenario() -> None:
        while True:
            await run_scenario(fleet, steps)
            await asyncio.sleep(max(0.0, SCENARIO_PERIOD - max(s.at for s in steps)))

    task = asyncio.create_task(scenario())
    sink = MailSink()
    try:
        await sink.start()
        with tempfile.TemporaryDirectory(prefix="nls-demo-") as tmp:
            path = write_sim_config(
                Path(tmp) / "demo.toml",
                fleet,
                host_key=host_key,
                installers=installers,
                customers=customers,
                interval=interval,
                extra=sink.smtp_table(),
            )
            config = load_config(path)
            runner = app_runner or (lambda cfg: console_main(cfg))
            return await runner(config)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await sink.stop()
        await fleet.stop()
