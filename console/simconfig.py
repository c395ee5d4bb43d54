"""Write an nls configuration that matches a simulated fleet, for demos, tests and benchmarks."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

_INSTALLERS = [
    ("secutec", "Secutec Beveiliging", "nl", "Europe/Brussels"),
    ("alarmes-wallonie", "Alarmes Wallonie SPRL", "fr", "Europe/Brussels"),
    ("limburg-security", "Limburg Security BV", "nl", "Europe/Amsterdam"),
    ("veiligheid-gent", "Veiligheid Gent", "nl", "Europe/Brussels"),
    ("lux-surveillance", "Lux Surveillance SA", "fr", "Europe/Luxembourg"),
    ("northsea-cctv", "NorthSea CCTV Ltd", "en", "Europe/London"),
]
_CUSTOMER_KINDS = [
    "Logistics",
    "Retail",
    "Hospital",
    "School",
    "Parking",
    "Brewery",
    "City Hall",
    "Warehouse",
]
_TOWNS = [
    "Hasselt",
    "Genk",
    "Liège",
    "Namur",
    "Gent",
    "Brugge",
    "Antwerpen",
    "Leuven",
    "Arlon",
    "Mons",
]


def fleet_config(
    servers: Sequence[dict[str, Any]],
    *,
    password_file: Path,
    database: Path,
    interval: str = "15m",
    installers: int = 3,
    customers: int = 8,
    delivered: str = "2025-01-06",
    ssh_user: str | None = None,
    known_hosts: Path | None = None,
    extra: str = "",
) -> str:
    """TOML text with `installers` installers, `customers` customers and the fleet's servers."""
    installers = max(1, min(installers, len(_INSTALLERS)))
    customers = max(installers, customers)
    q = json.dumps
    lines = [
        "# Written by `nls simulate`: a configuration matching the simulated fleet.",
        "",
        "[monitor]",
        f"interval = {q(interval)}",
        "quiet_days = 3",
        'request_timeout = "3s"',
        'server_timeout = "10s"',
        "",
        "[database]",
        f"path = {q(str(database))}",
        "",
        "[eocortex]",
        'user = "nls"',
        f"password_file = {q(str(password_file))}",
        "",
    ]
    if ssh_user:
        lines += [
            "[ssh]",
            f"user = {q(ssh_user)}",
            f"password_file = {q(str(password_file))}",
            f"known_hosts = {q(str(known_hosts))}" if known_hosts else "trust_on_first_use = true",
            "",
        ]
    lines.append(extra)
    for n in range(installers):
        iid, name, lang, tz = _INSTALLERS[n]
        lines += [
            "[[installers]]",
            f"id = {q(iid)}",
            f"name = {q(name)}",
            f"emails = [{q('alerts@' + iid + '.example')}]",
            f"language = {q(lang)}",
            f"timezone = {q(tz)}",
            "",
        ]
    for n in range(customers):
        iid = _INSTALLERS[n % installers][0]
        kind = _CUSTOMER_KINDS[n % len(_CUSTOMER_KINDS)]
        town = _TOWNS[(n // len(_CUSTOMER_KINDS) + n) % len(_TOWNS)]
        lines += [
            "[[customers]]",
            f"id = {q(f'cust-{n + 1:03d}')}",
            f"name = {q(f'{kind} {town}')}",
            f"installer = {q(iid)}",
            'sla_plan = "visuatech"',
            "",
        ]
    for n, server in enumerate(servers):
        lines += [
            "[[servers]]",
            f"id = {q(server['id'])}",
            f"name = {q(server['name'])}",
            f"customer = {q(f'cust-{n % customers + 1:03d}')}",
            f"address = {q(server['address'])}",
            f"platform = {q(server.get('platform', 'windows'))}",
            f"delivered = {delivered}",
            f"eocortex_url = {q(server['api_url'])}",
        ]
        if ssh_user and server.get("ssh_port"):
            lines.append(f"ssh = {{ port = {int(server['ssh_port'])} }}")
        if ssh_user and server.get("rdp_port"):
            lines.append(f"rdp = {{ port = {int(server['rdp_port'])} }}")
        lines.append("")
    lines += _SLA_POLICY
    return "\n".join(lines)


# The customers' plan: the monitoring contract itself (see config.example.toml for the rest).
_SLA_POLICY = [
    "[sla_policies.visuatech]",
    'description = "Visuatech Next Level Service on Eocortex"',
    'calendar = { timezone = "Europe/Brussels", hours = "09:00-17:00" }',
    "priorities.P1 = {}",
    "priorities.P2 = {}",
    "priorities.P3 = {}",
    'monitoring.priorities = { server_online = "P1", disk_activity = "P1", camera = "P2" }',
    "monitoring.resolve_on_recovery = true",
    "",
]


def write_sim_config(
    path: Path,
    fleet: Any,
    *,
    host_key: str | None = None,
    installers: int = 3,
    customers: int = 8,
    interval: str = "15m",
    database: Path | None = None,
    extra: str = "",
) -> Path:
    """Config plus a 0600 password file (the config itself holds no secret) and, when the fleet
    speaks SSH (`host_key` given), a known_hosts file so host keys are verified, not trusted."""
    from probes.simulator.hosts import known_hosts

    path = path.resolve()
    secret = path.with_suffix(".password")
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(fleet.password)
    hosts_file = None
    if host_key:
        hosts_file = path.with_suffix(".known_hosts")
        hosts_file.write_text(known_hosts(fleet, host_key), encoding="utf-8")
    path.write_text(
        fleet_config(
            fleet.describe(),
            password_file=secret,
            database=database or path.with_suffix(".duckdb"),
            interval=interval,
            installers=installers,
            customers=customers,
            ssh_user=fleet.login if host_key else None,
            known_hosts=hosts_file,
            extra=extra,
        ),
        encoding="utf-8",
    )
    return path
