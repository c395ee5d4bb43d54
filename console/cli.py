"""The `nls` command line.

Every command loads the configuration the same way (--config, $NLS_CONFIG, ./nls.toml) and turns
known problems into one clear message and a distinct exit code instead of a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

import click

from console import __version__
from console.config import Config, ConfigError, load_config
from console.sample import Sample
from console.store import Store, StoreError

EXIT_PROBLEMS = 1


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"nls: {message}", err=True)
    sys.exit(code)


def _guard(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except ConfigError as exc:
        _fail(str(exc), ConfigError.exit_code)
    except StoreError as exc:
        _fail(str(exc), exc.exit_code)


class Context:
    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path

    def config(self) -> Config:
        return _guard(lambda: load_config(self.config_path))


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    metavar="FILE",
    envvar="NLS_CONFIG",
    help="Configuration file (default: $NLS_CONFIG, else ./nls.toml).",
)
@click.version_option(__version__, "--version", "-V", prog_name="nls")
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """nls: monitoring console for a fleet of CREST servers running Eocortex.

    \b
    Quick start on a simulated fleet:
      nls demo
    Against your own fleet:
      nls --config nls.toml config check
      nls --config nls.toml check
      nls --config nls.toml sql "SELECT * FROM current_state WHERE state = 'fail'"
    """
    ctx.obj = Context(config_path)
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


# -- config -----------------------------------------------------------------------------------


@main.group("config")
def config_group() -> None:
    """Inspect and validate the configuration."""


@config_group.command("check")
@click.pass_obj
def config_check(obj: Context) -> None:
    """Validate the configuration and print a summary; exit 2 with the problem if it is wrong."""
    config = obj.config()
    for server in config.servers:
        _guard(lambda server=server: _resolve_secrets(config, server))
    per_installer = {i.id: 0 for i in config.installers}
    customers = {c.id: c.installer for c in config.customers}
    for server in config.servers:
        per_installer[customers[server.customer]] += 1
    click.echo(f"{config.source}: OK")
    click.echo(
        f"  {len(config.installers)} installers, {len(config.customers)} customers, "
        f"{len(config.servers)} servers"
    )
    for installer in config.installers:
        n_customers = sum(1 for c in config.customers if c.installer == installer.id)
        click.echo(
            f"  {installer.id:<24} {n_customers:>4} customers {per_installer[installer.id]:>6} "
            f"servers  -> {', '.join(installer.emails)}"
        )
    click.echo(f"  database: {config.database_path}")
    click.echo(
        f"  interval: {config.monitor.interval:g} s, alert after "
        f"{config.monitor.failures_before_alert} failed checks, "
        f"quiet period {config.monitor.quiet_days} days"
    )


def _resolve_secrets(config: Config, server: Any) -> None:
    from console.engine import _target

    _target(config, server)


# -- check ------------------------------------------------------------------------------------


@main.command()
@click.option(
    "--server", "servers", multiple=True, metavar="ID", help="Only this server (repeatable)."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line per sample.")
@click.option(
    "--all", "show_all", is_flag=True, help="Table of every sample, not one line per server."
)
@click.pass_obj
def check(obj: Context, servers: Sequence[str], as_json: bool, show_all: bool) -> None:
    """Run one probe cycle now, store it, and print the results.

    Exit status: 0 when every check passed, 1 when at least one failed, 2 for a configuration
    problem, 3 when the database is held by another process.
    """
    config = obj.config()
    known = {s.id for s in config.servers}
    missing = [s for s in servers if s not in known]
    if missing:
        _fail(f"unknown server {', '.join(missing)}; see `nls config check`", 2)
    samples = _guard(lambda: asyncio.run(_check(config, list(servers) or None)))
    if as_json:
        out = sys.stdout
        for s in samples:
            out.write(json.dumps(sample_json(s), ensure_ascii=False) + "\n")
    elif show_all:
        _print_table(
            ["server", "check", "subject", "state", "value", "detail"],
            [[s.server, s.check, s.subject, s.state, _num(s.value), s.detail] for s in samples],
        )
    else:
        _print_table(*server_summary(config, samples))
    if any(s.state == "fail" for s in samples):
        sys.exit(EXIT_PROBLEMS)


async def _check(config: Config, server_ids: list[str] | None) -> list[Sample]:
    from console.engine import Engine
    from console.storeworker import StoreWorker

    async with StoreWorker(config.database_path) as store, Engine(config, store) as engine:
        batch = await engine.run_cycle(server_ids)
    return list(batch.samples)


def sample_json(s: Sample) -> dict[str, Any]:
    return {
        "ts": s.ts.isoformat().replace("+00:00", "Z"),
        "server": s.server,
        "check": s.check,
        "subject": s.subject,
        "state": s.state,
        "value": s.value,
        "detail": s.detail,
    }


def server_summary(config: Config, samples: Sequence[Sample]) -> tuple[list[str], list[list[str]]]:
    by_server: dict[str, list[Sample]] = {}
    for s in samples:
        by_server.setdefault(s.server, []).append(s)
    customers = {c.id: c.name for c in config.customers}
    names = {s.id: (s.name or s.id, customers[s.customer]) for s in config.servers}
    rows = []
    for server, group in by_server.items():
        cams = [s for s in group if s.check == "camera"]
        online = sum(1 for s in cams if s.value == 1.0)
        failing = [s for s in group if s.state == "fail"]
        status = (
            "DOWN"
            if any(s.check == "server_online" for s in failing)
            else ("PROBLEM" if failing else "OK")
        )
        problems = "; ".join(s.detail for s in failing[:3])
        if len(failing) > 3:
            problems += f"; +{len(failing) - 3} more"
        rows.append([server, names[server][1], status, f"{online}/{len(cams)}", problems or "-"])
    return ["server", "customer", "status", "cameras", "problems"], rows


# -- sql --------------------------------------------------------------------------------------


@main.command("sql")
@click.argument("query")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help="json prints one object per line.",
)
@click.pass_obj
def sql_command(obj: Context, query: str, fmt: str) -> None:
    """Run read-only SQL on the store (tables: samples, current_state, state_changes, servers,
    customers, installers, cameras, cycles, outbox, maintenance).

    Writes are refused. Example: nls sql "SELECT server, count(*) FROM samples GROUP BY ALL"
    """
    config = obj.config()

    def run() -> Any:
        with Store(config.database_path, read_only=True) as store:
            return store.query(query)

    table = _guard(run)
    rows = table.to_pylist()
    columns = table.column_names
    if fmt == "json":
        for row in rows:
            click.echo(json.dumps(row, default=_json_default, ensure_ascii=False))
    elif fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(columns)
        writer.writerows([[_csv_value(row[c]) for c in columns] for row in rows])
        click.echo(buffer.getvalue(), nl=False)
    else:
        _print_table(columns, [[_cell(row[c]) for c in columns] for row in rows])
        click.echo(f"({len(rows)} row{'s' if len(rows) != 1 else ''})", err=True)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _csv_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return _num(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S%z")
    return str(value)


def _num(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.6g}"


def _print_table(columns: Sequence[str], rows: Sequence[Sequence[str]], limit: int = 60) -> None:
    widths = [len(c) for c in columns]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = min(max(widths[i], len(cell)), limit)
    if sys.stdout.isatty() and widths:
        room = shutil.get_terminal_size().columns - sum(widths[:-1]) - 2 * (len(widths) - 1)
        widths[-1] = max(len(columns[-1]), min(widths[-1], room))
    else:
        widths[-1] = max([len(columns[-1])] + [len(row[-1]) for row in rows])
    out = [
        "  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip(),
        "  ".join("-" * w for w in widths),
    ]
    for row in rows:
        cells = [
            (cell if len(cell) <= w else cell[: w - 1] + "…").ljust(w)
            for cell, w in zip(row, widths, strict=True)
        ]
        out.append("  ".join(cells).rstrip())
    click.echo("\n".join(out))


# -- simulator --------------------------------------------------------------------------------


@main.command()
@click.option("--servers", "count", type=click.IntRange(1, 6000), default=20, show_default=True)
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
@click.option("--installers", type=click.IntRange(1, 6), default=3, show_default=True)
@click.option("--customers", type=click.IntRange(1, 500), default=8, show_default=True)
@click.option(
    "--control-port",
    type=click.IntRange(0, 65535),
    default=7999,
    show_default=True,
    help="Port of the control API on 127.0.0.1 (see `nls fault`).",
)
@click.option(
    "--interval", default="15m", show_default=True, help="Interval written to the config."
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
def simulate(**options: Any) -> None:
    """Serve a simulated fleet of CREST servers on loopback addresses until interrupted.

    Each server gets its own address (127.77.0.1, 127.77.0.2, ...). Faults come from --scenario
    and from the control API (`nls fault`, `nls heal`). With --write-config it writes a matching
    nls configuration once the fleet listens; `ready` on stderr says it is serving.
    """
    from probes.simulator.scenario import load_scenario

    scenario = options.pop("scenario")
    steps = _guard_sim(lambda: load_scenario(scenario)) if scenario else []
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_simulate(SimOptions(steps=steps, **options)))


def _guard_sim(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except (ValueError, KeyError, OSError) as exc:
        _fail(str(exc).strip("'\""), 2)


@dataclass(frozen=True)
class SimOptions:
    count: int
    cameras: int | None
    steps: list[Any]
    write_config: Path | None
    installers: int
    customers: int
    control_port: int
    interval: str
    base: str
    http_port: int


async def _simulate(opts: SimOptions) -> None:
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
    _guard_sim(lambda: check_steps(fleet, opts.steps))
    try:
        await fleet.start()
    except OSError as exc:
        _fail(f"cannot start the simulated fleet: {exc}", 1)
    control = ControlServer(fleet, port=opts.control_port)
    try:
        await control.start()
    except OSError as exc:
        await fleet.stop()
        _fail(f"cannot open the control API on 127.0.0.1:{opts.control_port}: {exc}", 1)
    if opts.write_config:
        write_sim_config(
            opts.write_config,
            fleet,
            installers=opts.installers,
            customers=opts.customers,
            interval=opts.interval,
            host_key=host_key,
        )
        click.echo(f"wrote {opts.write_config}; try: nls --config {opts.write_config} check")
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


def write_sim_config(path: Path, fleet: Any, **options: Any) -> Path:
    """See console.simconfig.write_sim_config."""
    from console.simconfig import write_sim_config as write

    return write(path, fleet, **options)


@main.command()
@click.argument("server")
@click.argument("fault")
@click.option("--camera", help="Camera index or id, for camera faults.")
@click.option("--off", is_flag=True, help="Clear the fault instead of setting it.")
@click.option("--control-port", type=int, default=7999, show_default=True)
def fault(server: str, fault: str, camera: str | None, off: bool, control_port: int) -> None:
    """Set or clear a fault on a running simulator.

    \b
    Examples:
      nls fault crest-0003 camera_offline --camera 2
      nls fault crest-0001 port_closed
      nls fault crest-0001 port_closed --off
    """
    payload: dict[str, Any] = {"server": server, "fault": fault, "on": not off}
    if camera is not None:
        payload["camera"] = int(camera) if camera.isdigit() else camera
    _control(control_port, payload)


@main.command()
@click.argument("server", required=False)
@click.option("--control-port", type=int, default=7999, show_default=True)
def heal(server: str | None, control_port: int) -> None:
    """Clear every fault of one simulated server (or of all)."""
    _control(control_port, {"heal": True, **({"server": server} if server else {})})


def _control(port: int, payload: dict[str, Any]) -> None:
    import httpx

    from probes.simulator.control import send_control

    try:
        answer = asyncio.run(send_control(port, payload))
    except (OSError, httpx.TransportError) as exc:
        _fail(f"no simulator control API on 127.0.0.1:{port} ({exc})", 1)
    if answer.get("error"):
        _fail(str(answer["error"]), 2)
    click.echo(json.dumps(answer))


# -- demo -------------------------------------------------------------------------------------


@main.command()
@click.option("--servers", "count", type=click.IntRange(1, 2000), default=20, show_default=True)
def demo(count: int) -> None:
    """Start a simulated fleet in this process, run one check cycle on it and print it."""
    from probes.simulator.fleet import build_fleet

    async def run() -> tuple[Config, list[Sample]]:
        fleet = build_fleet(count)
        await fleet.start()
        try:
            fleet.set_fault(fleet_ids[1], "camera_offline", camera=0)
            fleet.set_fault(fleet_ids[2], "port_closed")
            fleet.set_fault(fleet_ids[3], "rights_granted")
            write_sim_config(path, fleet)
            config = load_config(path)
            return config, await _check(config, None)
        finally:
            await fleet.stop()

    with tempfile.TemporaryDirectory(prefix="nls-demo-") as tmp:
        path = Path(tmp) / "demo.toml"
        fleet_ids = [f"crest-{n + 1:04d}" for n in range(max(count, 4))]
        config, samples = _guard(lambda: asyncio.run(run()))
        _print_table(*server_summary(config, samples))
        failed = sum(1 for s in samples if s.state == "fail")
        click.echo(
            f"\n{len(samples)} samples stored, {failed} failing; "
            f"database was {config.database_path}"
        )


if __name__ == "__main__":  # pragma: no cover
    main()
