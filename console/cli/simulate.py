"""`nls simulate`, `nls fault`, `nls heal`: a simulated fleet on loopback and its control API."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from console.cli.main import standalone
from console.errors import SimulatorError, UsageError
from probes.simulator.scenario import Step

T = TypeVar("T")
QUICK_INTERVAL = "20s"

control_port_option = click.option(
    "--control-port",
    type=click.IntRange(0, 65535),
    default=7999,
    show_default=True,
    help="Port of the simulator's control API on 127.0.0.1.",
)


@standalone
@click.command()
@click.option(
    "--servers",
    "count",
    type=click.IntRange(1, 6000),
    default=20,
    show_default=True,
    help="How many servers to simulate.",
)
@click.option("--cameras", type=click.IntRange(1, 64), help="Cameras per server (default 4-64).")
@click.option(
    "--scenario",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="TOML file of timed fault changes.",
)
@click.option(
    "--write-config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a matching nls configuration here (and its password file beside it).",
)
@click.option(
    "--installers",
    type=click.IntRange(1, 6),
    default=3,
    show_default=True,
    help="Installers in the written configuration.",
)
@click.option(
    "--customers",
    type=click.IntRange(1, 500),
    default=8,
    show_default=True,
    help="Customers in the written configuration.",
)
@control_port_option
@click.option(
    "--interval",
    default="15m",
    show_default=True,
    help=f"Check interval written to the config; {QUICK_INTERVAL} to see a problem confirmed "
    "within a minute.",
)
@click.option(
    "--base",
    default="127.77.0.1",
    show_default=True,
    help="Loopback address of the first server; the others follow it.",
)
@click.option(
    "--http-port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="Eocortex API port on every server (0: a free port each).",
)
def simulate(scenario: Path | None, **options: Any) -> None:
    """Serve a simulated fleet of CREST servers on loopback addresses until interrupted.

    Each server gets its own address (127.77.0.1, 127.77.0.2, ...). Faults come from --scenario
    and from the control API (`nls fault`, `nls heal`). With --write-config it writes a matching
    nls configuration once the fleet listens; `ready` on stderr says it is serving.
    """
    from probes.simulator.scenario import load_scenario

    steps = _refused(lambda: load_scenario(scenario)) if scenario else []
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_simulate(SimOptions(steps=steps, **options)))


def _refused(fn: Callable[[], T]) -> T:
    """A scenario or fault the simulator refuses is bad input (exit 2)."""
    try:
        return fn()
    except (ValueError, KeyError, OSError) as exc:
        raise UsageError(str(exc).strip("'\"")) from None


@dataclass(frozen=True)
class SimOptions:
    count: int
    cameras: int | None
    steps: list[Step]
    write_config: Path | None
    installers: int
    customers: int
    control_port: int
    interval: str
    base: str
    http_port: int


async def _simulate(opts: SimOptions) -> None:
    from console.simconfig import write_sim_config
    from probes.simulator.control import ControlServer
    from probes.simulator.fleet import build_fleet
    from probes.simulator.hosts import add_host_protocols
    from probes.simulator.scenario import check_steps, run_scenario

    fleet = build_fleet(opts.count, cameras=opts.cameras, base=opts.base, http_port=opts.http_port)
    host_key = add_host_protocols(
        fleet,
        ssh_port=0 if opts.http_port == 0 else 2222,
        rdp_port=0 if opts.http_port == 0 else 3389,
    )
    _refused(lambda: check_steps(fleet, opts.steps))
    try:
        await fleet.start()
    except OSError as exc:
        raise SimulatorError(
            f"cannot start the simulated fleet: {exc}. Another simulator may hold these "
            f"addresses: pick others with --base (e.g. --base 127.79.0.1) or free ports with "
            "--http-port 0"
        ) from None
    control = ControlServer(fleet, port=opts.control_port)
    try:
        await control.start()
    except OSError as exc:
        await fleet.stop()
        raise SimulatorError(
            f"cannot open the control API on 127.0.0.1:{opts.control_port}: {exc.strerror}; "
            "choose another port with --control-port (0: any free port)"
        ) from None
    if opts.write_config:
        write_sim_config(
            opts.write_config,
            fleet,
            installers=opts.installers,
            customers=opts.customers,
            interval=opts.interval,
            host_key=host_key,
        )
        click.echo(
            f"wrote {opts.write_config} (checks every {opts.interval}; --interval "
            f"{QUICK_INTERVAL} confirms a fault within a minute); try: "
            f"nls --config {opts.write_config} check"
        )
    click.echo(
        f"simulating {opts.count} servers from {opts.base} (control API on "
        f"127.0.0.1:{control.port}); Ctrl-C to stop\nready",
        err=True,
    )
    try:
        if opts.steps:
            await run_scenario(fleet, opts.steps)
        await asyncio.Event().wait()
    finally:
        await control.stop()
        await fleet.stop()


@standalone
@click.command()
@click.argument("server")
@click.argument("fault")
@click.option("--camera", help="Camera index or id, for camera faults.")
@click.option("--off", is_flag=True, help="Clear the fault instead of setting it.")
@click.option("--json", "as_json", is_flag=True, help="Print the simulator's JSON answer.")
@control_port_option
def fault(
    server: str, fault: str, camera: str | None, off: bool, as_json: bool, control_port: int
) -> None:
    """Set or clear a fault on a running simulator (`nls simulate`).

    FAULT is e.g. port_closed, hang, http_500, camera_offline, cpu_high, host_down; an unknown
    one is refused with the full list.

    \b
    Examples:
      nls fault crest-0003 camera_offline --camera 2
      nls fault crest-0001 port_closed
      nls fault crest-0001 port_closed --off
    """
    payload: dict[str, Any] = {"server": server, "fault": fault, "on": not off}
    if camera is not None:
        payload["camera"] = int(camera) if camera.isdigit() else camera
    answer = _control(control_port, payload)
    if as_json:
        click.echo(json.dumps(answer))
        return
    where = f" on camera {camera}" if camera is not None else ""
    state = answer.get("server") or {}
    faults = list(state.get("faults") or [])
    faults += [f"{c['fault']} (camera {c['camera']})" for c in state.get("camera_faults") or []]
    active = ", ".join(faults) or "none"
    click.echo(f"{server}: {fault} {'cleared' if off else 'set'}{where}; active faults: {active}")


@standalone
@click.command()
@click.argument("server", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the simulator's JSON answer.")
@control_port_option
def heal(server: str | None, as_json: bool, control_port: int) -> None:
    """Clear every fault of one simulated server (or of all)."""
    answer = _control(control_port, {"heal": True, **({"server": server} if server else {})})
    if as_json:
        click.echo(json.dumps(answer))
        return
    click.echo(f"{server}: every fault cleared" if server else "every server healed")


def _control(port: int, payload: dict[str, Any]) -> dict[str, Any]:
    import httpx

    from probes.simulator.control import send_control

    try:
        answer = asyncio.run(send_control(port, payload))
    except (OSError, httpx.TransportError) as exc:
        raise SimulatorError(
            f"no simulator control API on 127.0.0.1:{port} ({exc}); is `nls simulate` running "
            "(with this --control-port)?"
        ) from None
    if answer.get("error"):
        raise UsageError(str(answer["error"]))
    return answer
