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
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from console import __version__
from console.config import Config, ConfigError, load_config
from console.fleetview import AccessDenied as AccessDeniedError
from console.monitor.sample import Sample
from console.store.database import Store, StoreError

# Exit status of every command: 0 ok; the others below (ConfigError and StoreError carry theirs).
EXIT_FAILED = 1  # a check failed, or a runtime error (daemon gone, port taken, ...)
EXIT_USAGE = 2  # bad input: options, configuration, unknown ids
EXIT_LOCKED = 3  # the database is held by another process
EXIT_MONITOR = 4  # the monitor itself failed (nls check): its samples are unknown, ops alarmed
T = TypeVar("T")


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"nls: {message}", err=True)
    sys.exit(code)


def _guard(fn: Callable[[], Any]) -> Any:
    """Known failures become one line and an exit code; the daemon's errors arrive as the same
    exceptions as local ones, so each command handles both paths alike."""
    from console.daemon.runtime import AlreadyRunning
    from console.daemon.wire import DaemonUnavailable, RemoteError
    from console.monitor.maintenance import MaintenanceError

    try:
        return fn()
    except ConfigError as exc:
        _fail(str(exc), ConfigError.exit_code)
    except StoreError as exc:
        _fail(str(exc), exc.exit_code)
    except AlreadyRunning as exc:
        _fail(str(exc), EXIT_LOCKED)
    except MaintenanceError as exc:
        _fail(str(exc), EXIT_USAGE)
    except DaemonUnavailable as exc:
        _fail(f"{exc}; is `nls --daemon` still running?", EXIT_FAILED)
    except RemoteError as exc:
        _fail(f"the daemon failed: {exc} (see its log)", EXIT_FAILED)
    except AccessDeniedError as exc:
        _fail(str(exc), EXIT_USAGE)


class Context:
    def __init__(self, config_path: str | None, socket: Path | None = None) -> None:
        self.config_path = config_path
        self.socket = socket

    def config(self) -> Config:
        return _guard(lambda: load_config(self.config_path))

    def daemon(self, config: Config) -> Path | None:
        """The socket of a daemon running for this database, if there is one."""
        from console.daemon.remote import find_daemon

        return find_daemon(config.database_path, self.socket)

    def run(
        self, config: Config, remote: Callable[[Any], Awaitable[T]], local: Callable[[], T]
    ) -> T:
        """`remote(source)` through the daemon running for this database, else `local()` on the
        database itself; either way, known failures become one line and an exit code."""
        path = self.daemon(config)
        if path is None:
            return _guard(local)

        async def attached() -> T:
            from console.daemon.remote import RemoteSource

            async with RemoteSource(path) as source:
                return await remote(source)

        return _guard(lambda: asyncio.run(attached()))


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    metavar="FILE",
    envvar="NLS_CONFIG",
    help="Configuration file (default: $NLS_CONFIG, else ./nls.toml).",
)
@click.option(
    "--daemon",
    "as_daemon",
    is_flag=True,
    help="Run headless: schedule, probes, alerting, mail and the local API socket.",
)
@click.option(
    "--installer",
    metavar="ID",
    help="Open the console scoped to one installer (their servers only, no SQL).",
)
@click.option(
    "--socket",
    "socket_path",
    metavar="PATH",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="NLS_SOCKET",
    help="The daemon's socket (default: <database>.sock beside the database).",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
    help="With --daemon: the least severe log records written to stderr.",
)
@click.version_option(__version__, "--version", "-V", prog_name="nls")
@click.pass_context
def main(
    ctx: click.Context,
    config_path: str | None,
    as_daemon: bool,
    installer: str | None,
    socket_path: Path | None,
    log_level: str,
) -> None:
    """nls: monitoring console for a fleet of CREST servers running Eocortex.

    With no command, opens the live console: attached to the running daemon of the configured
    database when there is one, else embedded (probing in this process).

    \b
    Quick start on a simulated fleet:
      nls demo
    Against your own fleet:
      nls --config nls.toml config check
      nls --config nls.toml --daemon          (24/7: schedule, alerts, e-mail, API)
      nls --config nls.toml                   (console; attaches to the daemon)
      nls --config nls.toml check
      nls --config nls.toml sql "SELECT * FROM current_state WHERE state = 'fail'"

    Exit status: 0 ok, 1 a check failed or a runtime error, 2 bad input or configuration, 3 the
    database is held by another process, 4 the monitor itself failed (nls check).
    """
    ctx.obj = Context(config_path, socket_path)
    if ctx.invoked_subcommand is not None:
        if as_daemon or installer:
            _fail("--daemon and --installer go without a command: `nls --daemon`", EXIT_USAGE)
        return
    config = ctx.obj.config()
    if as_daemon:
        if installer:
            _fail(
                "--installer scopes a console; the daemon always serves every installer", EXIT_USAGE
            )
        sys.exit(_daemon(config, socket_path, log_level))
    sys.exit(_console(ctx.obj, config, installer))


def _daemon(config: Config, socket_path: Path | None, log_level: str) -> int:
    from console.daemon.process import Daemon
    from console.daemon.runtime import setup_logging

    setup_logging(log_level)
    _resolve_secrets(config)
    try:
        daemon = Daemon(config, socket_path=socket_path)
    except ValueError as exc:
        _fail(str(exc), EXIT_USAGE)
    return _guard(lambda: asyncio.run(daemon.run()))


def _console(obj: Context, config: Config, installer: str | None) -> int:
    if installer is not None and installer not in {i.id for i in config.installers}:
        known = ", ".join(i.id for i in config.installers) or "(none)"
        _fail(f"no installer {installer!r} in {config.source}; known: {known}", EXIT_USAGE)
    launch = _launch()
    path = obj.daemon(config)
    if path is None:
        return _guard(lambda: launch.run_console(config, installer=installer))
    from console.daemon.remote import RemoteSource

    source = RemoteSource(path, installer=installer)
    return _guard(lambda: launch.run_console(config, installer=installer, source=source))


def _launch() -> Any:
    """console.tui.launch, or exit 1 when this installation has no console (no Textual)."""
    try:
        from console.tui import launch
    except ImportError as exc:
        _fail(f"the console is not available in this installation ({exc})", EXIT_FAILED)
    return launch


def _resolve_secrets(config: Config) -> None:
    """Read every server's secrets now, so that a missing one fails before anything starts."""
    from console.monitor.engine import resolve_targets

    _guard(lambda: resolve_targets(config))


# -- config -----------------------------------------------------------------------------------


@main.group("config")
def config_group() -> None:
    """Inspect and validate the configuration."""


@config_group.command("check")
@click.pass_obj
def config_check(obj: Context) -> None:
    """Validate the configuration and print a summary; exit 2 with the problem if it is wrong."""
    config = obj.config()
    _resolve_secrets(config)
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
    problem, 3 when the database is held by another process, 4 when the monitor itself failed
    (no free file descriptor or port, overload, a failing database): the samples it could not
    take are unknown, which says nothing about the servers.
    """
    config = obj.config()
    known = {s.id for s in config.servers}
    missing = [s for s in servers if s not in known]
    if missing:
        _fail(f"unknown server {', '.join(missing)}; see `nls config check`", EXIT_USAGE)
    ids = list(servers) or None
    samples, health = obj.run(
        config,
        lambda remote: _check_remote(remote, ids),
        lambda: asyncio.run(_check_health(config, ids)),
    )
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
    if health:
        _fail(health, EXIT_MONITOR)
    if any(s.state == "fail" for s in samples):
        sys.exit(EXIT_FAILED)


async def _check(config: Config, server_ids: list[str] | None) -> list[Sample]:
    return (await _check_health(config, server_ids))[0]


async def _check_health(config: Config, server_ids: list[str] | None) -> tuple[list[Sample], str]:
    """One cycle stored; with the self-health alarm's text when the monitor itself failed."""
    from console.monitor.engine import Engine
    from console.store.database import store_options
    from console.store.worker import StoreWorker

    worker = StoreWorker(config.database_path, options=store_options(config))
    async with worker as store, Engine(config, store) as engine:
        probed = await engine.probe(server_ids)
        try:
            batch = await engine.record(probed)
            samples = list(batch.samples)
        except StoreError:
            samples = [replace(s, state="unknown") for s in probed.samples]
    return samples, engine.health.status.line()


async def _check_remote(remote: Any, server_ids: list[str] | None) -> tuple[list[Sample], str]:
    """Ask the daemon for a cycle now, then read back what it stored for those servers."""
    started = datetime.now(UTC).replace(microsecond=0)
    await remote.check_now(server_ids)
    where = f"last_ts >= TIMESTAMPTZ '{started.isoformat()}'"
    if server_ids:
        where += " AND server IN (" + ", ".join(f"'{i}'" for i in server_ids) + ")"
    table = await remote.sql(
        "SELECT last_ts AS ts, server, check_name, subject, state::VARCHAR AS state, value, "
        f"detail FROM current_state WHERE {where} ORDER BY server, check_name <> "
        "'server_online', check_name, subject"
    )
    samples = [
        Sample(
            ts=r["ts"],
            server=r["server"],
            check=r["check_name"],
            subject=r["subject"],
            state=r["state"],
            value=r["value"],
            detail=r["detail"],
        )
        for r in table.to_pylist()
    ]
    return samples, getattr(await remote.info(), "health", "")


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
    customers, installers, cameras, cycles, outbox, maintenance, rollup_hour, rollup_day).

    Writes are refused. Example: nls sql "SELECT server, count(*) FROM samples GROUP BY ALL"
    """
    config = obj.config()

    def run() -> Any:
        with Store(config.database_path, read_only=True) as store:
            return store.query(query)

    table = obj.run(config, lambda remote: remote.sql(query), run)
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


# -- maintenance ------------------------------------------------------------------------------


@main.group("maintenance")
def maintenance_group() -> None:
    """Maintenance windows: failures are recorded but no alert is sent.

    \b
    Examples:
      nls maintenance add --server crest-0003 --start "2026-03-01 22:00" --end "2026-03-02 02:00" \\
          --reason "disk replacement"
      nls maintenance add --customer acme --cron "0 2 * * 0" --timezone Europe/Brussels \\
          --duration 120 --reason "weekly Windows updates"
      nls maintenance list
      nls maintenance remove 4
    """


@maintenance_group.command("add")
@click.option("--server", metavar="ID", help="The window covers this server.")
@click.option("--customer", metavar="ID", help="The window covers every server of this customer.")
@click.option("--installer", metavar="ID", help="The window covers every server of this installer.")
@click.option(
    "--start",
    metavar="TIME",
    help="ISO time, e.g. '2026-03-01 22:00' (local) or '2026-03-01T21:00Z'. With --cron: the "
    "first day it applies.",
)
@click.option("--end", metavar="TIME", help="ISO time; with --cron: when it stops applying.")
@click.option("--cron", metavar="EXPR", help="Recurring: a 5-field crontab, e.g. '0 2 * * 0'.")
@click.option(
    "--timezone",
    metavar="ZONE",
    help="IANA zone of --cron and of times without an offset (default: the scope's zone).",
)
@click.option("--duration", type=click.IntRange(1), metavar="MIN", help="Minutes, with --cron.")
@click.option("--reason", required=True, help="Why; SLA reports quote it.")
@click.option(
    "--announced",
    metavar="TIME",
    help="When the customer was told (default: now); SLA reports distinguish announced work.",
)
@click.pass_obj
def maintenance_add(obj: Context, **options: Any) -> None:
    """Add a one-off (--start/--end) or recurring (--cron/--duration) window."""
    config = obj.config()
    window = _guard(lambda: _window(config, **options))
    stored = obj.run(
        config,
        lambda remote: remote.maintenance_add(window),
        lambda: _local_maintenance(config, lambda m: m.add(window)),
    )
    click.echo(f"added maintenance window {stored.id}: {_window_when(stored)}")


def _window(config: Config, **o: Any) -> Any:
    from console.monitor.maintenance import MaintenanceError, MaintenanceWindow

    scopes = [(k, o[k]) for k in ("server", "customer", "installer") if o[k]]
    if len(scopes) != 1:
        raise MaintenanceError("give exactly one of --server, --customer or --installer")
    kind, scope_id = scopes[0]
    known = {
        "server": [s.id for s in config.servers],
        "customer": [c.id for c in config.customers],
        "installer": [i.id for i in config.installers],
    }[kind]
    if scope_id not in known:
        raise MaintenanceError(f"no {kind} {scope_id!r} in {config.source}")
    zone = o["timezone"] or _scope_zone(config, kind, scope_id)
    if o["cron"] is None and (o["duration"] is not None):
        raise MaintenanceError("--duration goes with --cron; a one-off window takes --end")
    return MaintenanceWindow(
        id=0,
        scope_kind=kind,
        scope_id=scope_id,
        reason=o["reason"],
        announced_at=_when(o["announced"], zone, "--announced") or datetime.now(UTC),
        created_by=_user(),
        starts=_when(o["start"], zone, "--start"),
        ends=_when(o["end"], zone, "--end"),
        cron=o["cron"],
        timezone=zone if o["cron"] else None,
        duration_min=o["duration"],
    )


def _scope_zone(config: Config, kind: str, scope_id: str) -> str:
    if kind == "server":
        scope_id, kind = next(s.customer for s in config.servers if s.id == scope_id), "customer"
    if kind == "customer":
        customer = config.customer(scope_id)
        return customer.timezone or config.installer(customer.installer).timezone
    return config.installer(scope_id).timezone


def _when(text: str | None, zone: str, option: str) -> datetime | None:
    """ISO time; without an offset it is wall-clock time in `zone`."""
    from zoneinfo import ZoneInfo

    from console.monitor.maintenance import MaintenanceError

    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise MaintenanceError(
            f"{option} {text!r} is not an ISO time such as 2026-03-01 22:00 or 2026-03-01T21:00Z"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(zone))
    return value.astimezone(UTC)


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def _local_maintenance(config: Config, fn: Callable[[Any], T], *, read_only: bool = False) -> T:
    """Run on the database directly; only possible while no other process holds it."""
    from console.monitor.maintenance import DuckMaintenanceStore

    with Store(config.database_path, read_only=read_only) as store:
        return fn(DuckMaintenanceStore(store.con))


@maintenance_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line per window.")
@click.pass_obj
def maintenance_list(obj: Context, as_json: bool) -> None:
    """Active windows (one-off ones that ended stay listed until removed)."""
    config = obj.config()
    windows = obj.run(
        config,
        lambda remote: remote.maintenance_list(),
        lambda: _local_maintenance(config, lambda m: m.windows(), read_only=True),
    )
    if as_json:
        import dataclasses

        for w in windows:
            click.echo(json.dumps(dataclasses.asdict(w), default=_json_default))
        return
    _print_table(
        ["id", "scope", "when", "reason", "announced"],
        [
            [
                str(w.id),
                f"{w.scope_kind} {w.scope_id}",
                _window_when(w),
                w.reason,
                _local(w.announced_at),
            ]
            for w in windows
        ],
    )


def _window_when(w: Any) -> str:
    if w.cron:
        text = f"cron '{w.cron}' {w.timezone}, {w.duration_min} min"
        if w.starts:
            text += f", from {_local(w.starts)}"
        if w.ends:
            text += f", until {_local(w.ends)}"
        return text
    return f"{_local(w.starts)} -> {_local(w.ends)}"


def _local(value: datetime | None) -> str:
    """A time in this machine's zone, with its offset so nobody has to guess."""
    return value.astimezone().strftime("%Y-%m-%d %H:%M%z") if value else ""


@maintenance_group.command("remove")
@click.argument("window_id", type=int)
@click.pass_obj
def maintenance_remove(obj: Context, window_id: int) -> None:
    """End a window now (its row stays, for SLA history)."""
    config = obj.config()

    async def remote_remove(remote: Any) -> bool:
        try:
            await remote.maintenance_remove(window_id)
        except KeyError:
            return False
        return True

    removed = obj.run(
        config,
        remote_remove,
        lambda: _local_maintenance(config, lambda m: m.remove(window_id, datetime.now(UTC))),
    )
    if not removed:
        _fail(f"no active maintenance window {window_id}; see `nls maintenance list`", EXIT_USAGE)
    click.echo(f"removed maintenance window {window_id}")


# -- mail -------------------------------------------------------------------------------------


@main.group("mail")
def mail_group() -> None:
    """The e-mail outbox: every notification is stored before it is sent."""


@mail_group.command("list")
@click.option(
    "--limit",
    type=click.IntRange(1, 10000),
    default=50,
    show_default=True,
    help="How many of the newest mails to look at.",
)
@click.option(
    "--status",
    type=click.Choice(["pending", "sending", "sent", "failed"]),
    help="Only those of the newest --limit mails that have this status.",
)
@click.pass_obj
def mail_list(obj: Context, limit: int, status: str | None) -> None:
    """Newest mails first: when, status, kind, server, recipients, subject, attempts, error."""
    config = obj.config()
    rows = obj.run(
        config, lambda remote: remote.outbox(limit), lambda: _local_outbox(config, limit)
    )
    rows = [r for r in rows if status is None or r.status == status]
    _print_table(
        ["created", "status", "kind", "server", "to", "subject", "tries", "error"],
        [
            [
                _local(r.created),
                r.status,
                r.kind,
                r.server or "",
                ", ".join(r.recipients),
                r.subject,
                str(r.attempts),
                r.last_error or "",
            ]
            for r in rows
        ],
    )


def _local_outbox(config: Config, limit: int) -> list[Any]:
    from console.fleetview import MailRow
    from console.mail.outbox import DuckOutboxStore

    with Store(config.database_path, read_only=True) as store:
        found = DuckOutboxStore(store.con).recent(limit)
    return [
        MailRow(
            r.key,
            r.created,
            r.kind,
            r.server,
            r.installer,
            r.recipients,
            r.subject,
            r.status,
            r.attempts,
            r.last_error,
            r.sent_at,
        )
        for r in found
    ]


# -- simulator --------------------------------------------------------------------------------

_control_port = click.option(
    "--control-port",
    type=click.IntRange(0, 65535),
    default=7999,
    show_default=True,
    help="Port of the simulator's control API on 127.0.0.1.",
)


@main.command()
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
@_control_port
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
        _fail(str(exc).strip("'\""), EXIT_USAGE)


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
    _guard_sim(lambda: check_steps(fleet, opts.steps))
    try:
        await fleet.start()
    except OSError as exc:
        _fail(f"cannot start the simulated fleet: {exc}", EXIT_FAILED)
    control = ControlServer(fleet, port=opts.control_port)
    try:
        await control.start()
    except OSError as exc:
        await fleet.stop()
        _fail(f"cannot open the control API on 127.0.0.1:{opts.control_port}: {exc}", EXIT_FAILED)
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


@main.command()
@click.argument("server")
@click.argument("fault")
@click.option("--camera", help="Camera index or id, for camera faults.")
@click.option("--off", is_flag=True, help="Clear the fault instead of setting it.")
@_control_port
def fault(server: str, fault: str, camera: str | None, off: bool, control_port: int) -> None:
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
    _control(control_port, payload)


@main.command()
@click.argument("server", required=False)
@_control_port
def heal(server: str | None, control_port: int) -> None:
    """Clear every fault of one simulated server (or of all)."""
    _control(control_port, {"heal": True, **({"server": server} if server else {})})


def _control(port: int, payload: dict[str, Any]) -> None:
    import httpx

    from probes.simulator.control import send_control

    try:
        answer = asyncio.run(send_control(port, payload))
    except (OSError, httpx.TransportError) as exc:
        _fail(f"no simulator control API on 127.0.0.1:{port} ({exc})", EXIT_FAILED)
    if answer.get("error"):
        _fail(str(answer["error"]), EXIT_USAGE)
    click.echo(json.dumps(answer))


# -- demo -------------------------------------------------------------------------------------


@main.command()
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
    "--interval", default="20s", show_default=True, help="Time between cycles (not with --once)."
)
@click.option(
    "--once", is_flag=True, help="No console: run one cycle on the simulated fleet and print it."
)
def demo(count: int, installers: int, customers: int, interval: str, once: bool) -> None:
    """The live console on a simulated fleet in this process, with a few faults set.

    Needs nothing else: no configuration, no servers, no daemon. --once prints one cycle instead,
    for a terminal without a screen.
    """
    if not once:
        launch = _launch()
        sys.exit(
            launch.run_demo(
                servers=count, installers=installers, customers=customers, interval=interval
            )
        )
    _demo_once(count)


def _demo_once(count: int) -> None:
    """One cycle on a simulated fleet with a few faults set, printed as `nls check` prints it."""
    from console.simconfig import write_sim_config
    from probes.simulator.fleet import build_fleet

    faults = [("camera_offline", {"camera": 0}), ("port_closed", {}), ("rights_granted", {})]

    async def run(path: Path) -> tuple[Config, list[Sample]]:
        fleet = build_fleet(count, http_port=0)  # never collides with a running `nls simulate`
        await fleet.start()
        try:
            for server, (fault, extra) in zip(list(fleet.servers)[1:], faults, strict=False):
                fleet.set_fault(server, fault, **extra)
            config = load_config(write_sim_config(path, fleet))
            return config, await _check(config, None)
        finally:
            await fleet.stop()

    with tempfile.TemporaryDirectory(prefix="nls-demo-") as tmp:
        config, samples = _guard(lambda: asyncio.run(run(Path(tmp) / "demo.toml")))
        _print_table(*server_summary(config, samples))
        failed = sum(1 for s in samples if s.state == "fail")
        click.echo(
            f"\n{len(samples)} samples stored, {failed} failing; "
            f"database was {config.database_path}"
        )


from console.cli.stats import stats as _stats  # noqa: E402

main.add_command(_stats)

if __name__ == "__main__":  # pragma: no cover
    main()
