"""The engine: probe a set of servers concurrently, evaluate the checks, store the batch.

One engine serves the CLI, the embedded console and the daemon; only its scheduler and transport
differ. Probing happens on the event loop; the store lives on its own thread so that neither a
slow write nor an ad-hoc query ever blocks probes or the screen.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

import httpx

from console.clock import Clock, utcnow
from console.config import Config, Overrides, Server, SshSettings
from console.monitor.checks import Limits, ServerProbe, evaluate
from console.monitor.sample import Sample
from console.monitor.webchecks import WebProber
from console.store.database import Store, api_url
from console.store.worker import StoreWorker
from probes.eocortex import probe_eocortex
from probes.rdp import RdpResult, probe_rdp
from probes.ssh import HostResult, SshPool, SshTarget, probe_host

log = logging.getLogger("nls.engine")
BatchListener = Callable[["Batch"], Awaitable[None] | None]


@dataclass(frozen=True, slots=True)
class Batch:
    """One stored batch of samples: what listeners (alerting, views) receive."""

    cycle: int
    started: datetime
    finished: datetime
    samples: tuple[Sample, ...]
    timings: dict[str, float]
    notifications: int = 0
    incident_servers: tuple[str, ...] = ()
    """Servers whose incidents monitoring opened or added to in this batch."""


@dataclass(frozen=True, slots=True)
class Probed:
    """A batch probed and evaluated but not stored yet."""

    started: datetime
    samples: tuple[Sample, ...]
    cameras: tuple[tuple[str, str, str], ...]


class Decider(Protocol):
    """Alerting as the engine sees it: decide on a numbered batch, adopt it once stored."""

    def process(self, cycle: int, samples: Sequence[Sample]) -> Any: ...

    def commit(self, outcome: Any) -> None: ...


@dataclass(slots=True)
class ServerTarget:
    """A server with its secrets resolved once: a missing secret fails at start, not per cycle."""

    config: Server
    api_url: str
    login: str
    password: str = field(repr=False)
    limits: Limits
    ssh: SshTarget | None = None
    ssh_settings: SshSettings | None = None
    rdp_port: int | None = None


class Engine:
    def __init__(
        self,
        config: Config,
        store: StoreWorker,
        *,
        clock: Clock = utcnow,
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.listeners: list[BatchListener] = []
        self._known: dict[str, list[tuple[str, str]]] = {}
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._tls = ssl.create_default_context()
        self._semaphore = asyncio.Semaphore(config.monitor.concurrency)
        self._cycle_lock = asyncio.Lock()
        self._next_cycle = 0
        self._ssh_pool = SshPool(keepalive_interval=60.0)
        self._pins: dict[str, str] = {}
        # issue 12: web service checks probe beside the servers when their ids are asked for
        self.web = WebProber(config.web_checks, clock=clock)

    @functools.cached_property
    def targets(self) -> dict[str, ServerTarget]:
        """Every server with its secrets, read on first use: a command that only reads the
        store (`nls sql`, `nls mail list`) needs no probe credentials."""
        return resolve_targets(self.config)

    async def start(self) -> None:
        await self.store.call(Store.sync_inventory, self.config)
        self._known = await self.store.call(Store.known_cameras)
        self._next_cycle = await self.store.call(Store.next_cycle_id)
        self._pins = await self.store.call(Store.host_keys)

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        await asyncio.gather(*(c.aclose() for c in clients))
        await self._ssh_pool.close()
        await self.web.close()

    async def __aenter__(self) -> Engine:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def run_cycle(
        self, server_ids: Iterable[str] | None = None, alerts: Decider | None = None
    ) -> Batch:
        """Probe the given servers (all when None) and store their samples as one batch."""
        return await self.record(await self.probe(server_ids), alerts)

    async def probe(self, server_ids: Iterable[str] | None = None) -> Probed:
        """Probe servers concurrently and evaluate their checks; nothing is stored yet.

        Web check ids may be given beside server ids (None means every server, no web check)."""
        ids = list(self.targets) if server_ids is None else list(server_ids)
        web_ids = [i for i in ids if i in self.web.checks and i not in self.targets]
        ids = [i for i in ids if i not in web_ids]
        unknown = [i for i in ids if i not in self.targets]
        if unknown:
            raise KeyError(f"unknown server(s): {', '.join(unknown)}")
        started = self.clock()
        probes, web_samples = await asyncio.gather(
            asyncio.gather(*(self._probe(self.targets[i]) for i in ids)),
            self.web.probe(web_ids),
        )
        samples: list[Sample] = list(web_samples)
        cameras: list[tuple[str, str, str]] = []
        for probe in probes:
            target = self.targets[probe.server]
            samples.extend(evaluate(probe, self._known.get(probe.server, ()), target.limits))
            if probe.eocortex.ok:
                seen = [(c.id, c.name) for c in probe.eocortex.cameras]
                before = set(self._known.get(probe.server, ()))
                cameras.extend(
                    (probe.server, c, name) for c, name in seen if (c, name) not in before
                )
                self._known[probe.server] = seen
        return Probed(started, tuple(samples), tuple(cameras))

    async def record(self, probed: Probed, alerts: Decider | None = None) -> Batch:
        """Store a probed batch, with its alert states and mails when `alerts` decides them.

        Batches are numbered and stored one at a time, and alerting sees them in that order.
        """
        async with self._cycle_lock:
            cycle = self._next_cycle
            self._next_cycle += 1
            outcome = alerts.process(cycle, probed.samples) if alerts else None
            finished = self.clock()
            timings = await self.store.call(
                Store.write_cycle,
                cycle,
                probed.started,
                finished,
                probed.samples,
                probed.cameras,
                outcome.result.states if outcome else (),
                outcome.notifications if outcome else (),
                getattr(outcome, "incidents", ()) if outcome else (),
            )
            if alerts and outcome:
                alerts.commit(outcome)
            batch = Batch(
                cycle,
                probed.started,
                finished,
                probed.samples,
                timings,
                len(outcome.notifications) if outcome else 0,
                tuple(a.server for a in getattr(outcome, "incidents", ())) if outcome else (),
            )
        for listener in self.listeners:
            result = listener(batch)
            if asyncio.iscoroutine(result):
                await result
        return batch

    def _client(self, server_id: str) -> httpx.AsyncClient:
        """One small client per server: httpcore's pool scans every connection it holds for each
        request, so a single pool over 1,000 hosts made a cycle quadratic (measured: 20 s CPU)."""
        client = self._clients.get(server_id)
        if client is None:
            client = httpx.AsyncClient(
                limits=httpx.Limits(max_connections=4, keepalive_expiry=60.0),
                trust_env=False,
                follow_redirects=False,
                verify=self._tls,
            )
            self._clients[server_id] = client
        return client

    async def _probe(self, target: ServerTarget) -> ServerProbe:
        """The Eocortex API, SSH metrics and the RDP handshake of one server, side by side."""
        monitor = self.config.monitor
        async with self._semaphore:
            ts = self.clock()
            eoc, host, rdp = await asyncio.gather(
                probe_eocortex(
                    self._client(target.config.id),
                    target.api_url,
                    target.login,
                    target.password,
                    request_timeout=monitor.request_timeout,
                    server_timeout=monitor.server_timeout,
                    responsetype=self.config.eocortex.responsetype,
                ),
                self._probe_ssh(target),
                self._probe_rdp(target),
            )
        return ServerProbe(server=target.config.id, ts=ts, eocortex=eoc, host=host, rdp=rdp)

    async def _probe_rdp(self, target: ServerTarget) -> RdpResult | None:
        if target.rdp_port is None:
            return None
        return await probe_rdp(
            target.config.address, target.rdp_port, timeout=self.config.monitor.request_timeout
        )

    async def _probe_ssh(self, target: ServerTarget) -> HostResult | None:
        settings = target.ssh_settings
        if target.ssh is None or settings is None:
            return None
        server = target.config.id
        ssh = target.ssh
        if settings.trust_on_first_use and server in self._pins:
            ssh = replace(ssh, pinned_key=self._pins[server])
        window = self.config.monitor.sample_window
        platform = target.config.platform
        if settings.keep_open:
            result = await self._ssh_pool.probe(ssh, platform, window, disk=settings.archive_disk)
        else:
            result = await probe_host(ssh, platform, window, disk=settings.archive_disk)
        if settings.trust_on_first_use and result.host_key and server not in self._pins:
            self._pins[server] = result.host_key
            await self.store.call(
                Store.pin_host_key, server, result.host_key, result.fingerprint or "", self.clock()
            )
        if result.finding:
            log.warning("security finding on %s: %s", server, result.finding)
            await self.store.call(
                Store.add_finding, self.clock(), server, "host_key", result.finding
            )
        return result


def resolve_targets(config: Config) -> dict[str, ServerTarget]:
    """Every server with its secrets read and its overrides applied; raises ConfigError (naming
    the server and key) when a secret cannot be read, so a bad config fails before any probe."""
    overrides = Overrides(config)
    read: dict[tuple[str | None, Any], str] = {}

    def secret(source: Any, what: str) -> str:
        """Each secret once, however many servers share it (a fleet usually shares one)."""
        key = (source.password_env, source.password_file)
        if key not in read:
            read[key] = source.secret(f"{config.source}: {what}")
        return read[key]

    return {s.id: _target(config, overrides, s, secret) for s in config.servers}


def _target(
    config: Config, overrides: Overrides, server: Server, secret: Callable[[Any, str], str]
) -> ServerTarget:
    override = server.eocortex
    secret_source: Any = (
        override
        if override and (override.password_env or override.password_file)
        else config.eocortex
    )
    password = secret(secret_source, f"eocortex password for server {server.id}")
    ssh_settings = ssh_settings_for(config, server)
    rdp = config.rdp.model_copy(
        update=server.rdp.model_dump(exclude_none=True) if server.rdp else {}
    )
    return ServerTarget(
        config=server,
        api_url=api_url(config, server),
        login=(override.user if override and override.user else config.eocortex.user),
        password=password,
        limits=limits_for(overrides, server),
        ssh=_ssh_target(config, server, ssh_settings, secret) if ssh_settings else None,
        ssh_settings=ssh_settings,
        rdp_port=rdp.port if rdp.enabled else None,
    )


def ssh_settings_for(config: Config, server: Server) -> SshSettings | None:
    """[ssh] with the server's overrides; None when SSH is off or has no credential at all."""
    merged = config.ssh.model_copy(
        update=server.ssh.model_dump(exclude_none=True) if server.ssh else {}
    )
    if not merged.enabled:
        return None
    if not (merged.key_file or merged.password_env or merged.password_file):
        return None
    return merged


def _ssh_target(
    config: Config, server: Server, ssh: SshSettings, secret: Callable[[Any, str], str]
) -> SshTarget:
    password = secret(ssh, f"ssh password for server {server.id}") or None
    timeout = config.monitor.request_timeout
    return SshTarget(
        host=server.address,
        port=ssh.port,
        username=ssh.user,
        password=password if not ssh.key_file else None,
        client_keys=(str(ssh.key_file),) if ssh.key_file else None,
        passphrase=password if ssh.key_file else None,
        known_hosts=str(ssh.known_hosts) if ssh.known_hosts else None,
        trust_on_first_use=ssh.trust_on_first_use,
        connect_timeout=timeout,
        auth_timeout=timeout * 2,
        command_timeout=timeout * 2,
    )


def limits_for(overrides: Overrides, server: Server) -> Limits:
    return Limits(
        cpu_threshold=overrides.setting(server, "cpu_threshold"),
        disk_min_write_bps=overrides.setting(server, "disk_min_write_bps"),
    )
