"""The root `nls` group: global options, the console and the daemon, and the one error mapping.

A command group lives in its own module (`console/cli/<group>.py`) and is registered with one
line in `console/cli/__init__.py`. A command body asks its `Context` for what it needs:

    @click.command()
    @click.pass_obj
    def windows(obj: Context) -> None:
        found = obj.run(lambda source: source.maintenance_list())   # attached or embedded
        output.emit("table", ["id", "reason"], output.records(found))

and raises an `NlsError` (console/errors.py) for anything a person must fix: the root group turns
it into one line on stderr and the error's exit status. Nothing else catches errors.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from console import __version__
from console.config import Config, load_config
from console.directory import Directory
from console.errors import EXIT_FAILED, EXIT_INTERRUPTED, NlsError, UsageError
from console.fleetview import FleetSource

T = TypeVar("T")
C = TypeVar("C", bound=click.Command)
CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"]}


@dataclass
class Context:
    """What every command shares: the global options, the configuration once loaded, and the
    one way to reach the fleet."""

    config_path: str | None = None
    socket: Path | None = None
    _config: Config | None = field(default=None, repr=False)

    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config

    def directory(self) -> Directory:
        return Directory(self.config())

    def run(self, body: Callable[[FleetSource], Awaitable[T]]) -> T:
        """`await body(source)` on the daemon running for the configured database, else on the
        same service embedded in this process (see `console.sources.open_source`)."""
        from console.sources import open_source

        config = self.config()

        async def go() -> T:
            async with open_source(config, socket=self.socket) as source:
                return await body(source)

        return asyncio.run(go())


def fail(message: str, code: int) -> NoReturn:
    click.echo(f"nls: {message}", err=True)
    sys.exit(code)


def standalone(command: C) -> C:
    """Mark a command that reads no configuration (the simulator's): it takes no --config."""
    setattr(command, "_nls_standalone", True)  # noqa: B010 - click.Command has no such field
    return command


def _late_option(name: str, store: str, **options: Any) -> click.Option:
    """A global option also accepted after the subcommand (`nls config check --config F`)."""

    def remember(ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        obj = ctx.find_object(Context)
        if value is not None and obj is not None:
            setattr(obj, store, value)
        return value

    return click.Option([name], expose_value=False, callback=remember, **options)


def _global_options() -> list[click.Option]:
    return [
        _late_option(
            "--config",
            "config_path",
            metavar="FILE",
            help="Configuration file (also accepted before the command).",
        ),
        _late_option(
            "--socket",
            "socket",
            metavar="PATH",
            type=click.Path(dir_okay=False, path_type=Path),
            help="The daemon's socket (also accepted before the command).",
        ),
    ]


def _adopt(command: click.Command) -> None:
    """Give a command (and a group's commands) the global options, once."""
    if getattr(command, "_nls_standalone", False) or getattr(command, "_nls_adopted", False):
        return
    setattr(command, "_nls_adopted", True)  # noqa: B010
    taken = {opt for param in command.params for opt in param.opts}
    command.params.extend(o for o in _global_options() if not taken & set(o.opts))
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _adopt(sub)


class NlsGroup(click.Group):
    """The root group: global options reach every command, and every NlsError ends here."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _adopt(command)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except NlsError as exc:
            fail(f"{exc}; {exc.hint}" if exc.hint else str(exc), exc.exit_code)
        except OSError as exc:  # e.g. a database folder nobody may write: the OS names the path
            fail(str(exc), EXIT_FAILED)
        except KeyboardInterrupt:  # Ctrl-C: the shell's convention, 128 + SIGINT, and no traceback
            fail("interrupted", EXIT_INTERRUPTED)


@click.group(cls=NlsGroup, invoke_without_command=True, context_settings=CONTEXT_SETTINGS)
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

    --config and --socket may also follow the command (nls check --config nls.toml).

    Exit status: 0 ok, 1 a check failed or a runtime error, 2 bad input or configuration, 3 the
    database is held by another process, 4 the monitor itself failed (nls check), 130
    interrupted (Ctrl-C).
    """
    ctx.obj = obj = Context(config_path, socket_path)
    if ctx.invoked_subcommand is not None:
        if as_daemon or installer:
            raise UsageError("--daemon and --installer go without a command: `nls --daemon`")
        return
    if as_daemon:
        if installer:
            raise UsageError(
                "--installer scopes a console; the daemon always serves every installer"
            )
        sys.exit(_daemon(obj.config(), socket_path, log_level))
    sys.exit(_console(obj, installer))


def _daemon(config: Config, socket_path: Path | None, log_level: str) -> int:
    from console.daemon.process import Daemon
    from console.daemon.runtime import setup_logging
    from console.monitor.engine import resolve_targets

    setup_logging(log_level)
    resolve_targets(config)  # every secret now, so a missing one fails before anything starts
    try:
        daemon = Daemon(config, socket_path=socket_path)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return asyncio.run(daemon.run())


def _console(obj: Context, installer: str | None) -> int:
    from console.sources import open_source

    config = obj.config()
    if installer is not None:
        Directory(config).installer(installer)
    require_console()
    from console.tui.launch import console_main

    async def go() -> int:
        # Connected (or refused: no role, another installer) before the screen opens; the scope
        # is the one the source confirmed (an installer's staff get theirs without --installer).
        async with open_source(config, socket=obj.socket, installer=installer, live=True) as source:
            scope = (await source.info()).installer
            return await console_main(config, installer=scope, source=source)

    return asyncio.run(go())


def require_console() -> None:
    """Exit 1 with a plain message when this installation has no console (no Textual)."""
    if importlib.util.find_spec("textual") is None:
        fail("the console is not available in this installation (no Textual)", EXIT_FAILED)
