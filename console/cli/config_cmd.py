"""`nls config`: validate the configuration and say what it will and will not do."""

from __future__ import annotations

import click

from console.cli.main import Context


@click.group("config")
def config_group() -> None:
    """Inspect and validate the configuration."""


@config_group.command("check")
@click.pass_obj
def config_check(obj: Context) -> None:
    """Validate the configuration and print a summary; exit 2 with the problem if it is wrong.

    Settings that are valid but leave something unmonitored (no [smtp], SSH off, no servers,
    ...) are printed as warnings on stderr; the exit status stays 0.
    """
    from console.config_warnings import config_warnings
    from console.monitor.engine import resolve_targets

    config = obj.config()
    targets = resolve_targets(config)  # reads every secret: a missing one exits 2 here
    directory = obj.directory()
    warnings = config_warnings(config, targets)
    suffix = f" ({len(warnings)} warning{'s' if len(warnings) != 1 else ''})" if warnings else ""
    click.echo(f"{config.source}: OK{suffix}")
    click.echo(
        f"  {len(config.installers)} installers, {len(config.customers)} customers, "
        f"{len(config.servers)} servers"
    )
    for installer in config.installers:
        customers = directory.customers_of(installer.id)
        servers = directory.servers_of(installer.id)
        click.echo(
            f"  {installer.id:<24} {len(customers):>4} customers {len(servers):>6} "
            f"servers  -> {', '.join(installer.emails)}"
        )
    monitor = config.monitor
    click.echo(f"  database: {config.database_path}")
    click.echo(
        f"  interval: {monitor.interval:g} s, alert after {monitor.failures_before_alert} "
        f"failed checks (within {_duration(monitor.interval * monitor.failures_before_alert)} "
        f"of a fault), "
        f"quiet period {monitor.quiet_days} days"
    )
    for warning in warnings:
        click.echo(f"nls: warning: {warning}", err=True)


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    if seconds >= 60:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"
