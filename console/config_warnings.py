"""Configurations that are valid but quietly do less than people expect: no mail, no host
metrics, nothing to monitor. `nls config check` prints them and the daemon logs them at start,
so a degraded setup is said out loud instead of discovered during an outage."""

from __future__ import annotations

from collections.abc import Mapping

from console.config import Config
from console.monitor.engine import ServerTarget


def config_warnings(config: Config, targets: Mapping[str, ServerTarget]) -> list[str]:
    """One sentence per degradation, saying what is lost and where to change it."""
    found: list[str] = []
    total = len(config.servers)
    if not total:
        found.append("no servers: add [[servers]] or an [inventory] csv; nothing will be monitored")
    if config.smtp is None:
        found.append(
            "no [smtp] table: no mail will be sent; alerts are only stored in the outbox "
            "(see [smtp] in config.example.toml)"
        )
    elif config.smtp.ops_address is None:
        found.append("[smtp] has no ops_address: nobody is mailed when the monitor itself fails")
    no_ssh = sum(1 for t in targets.values() if t.ssh is None)
    if no_ssh:
        why = "[ssh] enabled = false" if not config.ssh.enabled else "no SSH key or password"
        found.append(
            f"SSH is off for {_of(no_ssh, total)} ({why}): CPU and disk activity (recording) "
            "are not checked there"
        )
    no_rdp = sum(1 for t in targets.values() if t.rdp_port is None)
    if no_rdp:
        found.append(
            f"RDP is off for {_of(no_rdp, total)}: a hung host is harder to tell from one "
            "that is off"
        )
    no_password = sorted({t.config.id for t in targets.values() if not t.password})
    if no_password:
        found.append(
            f"no Eocortex password for {_of(len(no_password), total)} (set [eocortex] "
            "password_env or password_file): the API will likely refuse the nls user"
        )
    for installer in config.installers:
        if not any(c.installer == installer.id for c in config.customers):
            found.append(f"installer {installer.id!r} has no customers: it will get no mail")
    return found


def _of(n: int, total: int) -> str:
    return "every server" if n == total else f"{n} of {total} servers"
