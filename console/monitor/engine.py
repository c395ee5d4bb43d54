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
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

import duckdb

from console.clock import Clock, utcnow
from console.config import Config, Overrides, Server, SshSettings
from console.monitor.budget import FileBudget, plan_files
from console.monitor.checks import Limits, ServerProbe, evaluate
from console.monitor.health import Health, LoopWatch
from console.monitor.sample import Sample, latest_per_key
from console.monitor.webchecks import WebProber
from console.store.database import Store, StoreError, api_url
from console.store.worker import StoreFatal, StoreWorker
from probes.eocortex import probe_eocortex, shutdown_parser_pool
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
    lag_s: float | None = None
    """How late the batch's last probe started after the time it was due (its slot)."""


@dataclass(frozen=True, slots=True)
class Probed:
    """A batch probed and evaluated but not stored yet."""

    started: datetime
    samples: tuple[Sample, ...]
    cameras: tuple[tuple[str, str, str], ...]
    lag_s: float | None = None


UNSTORED_CAP = 500_000
"""Unknown samples kept for a store that failed, written once it works again; beyond this many
the oldest are dropped (their time is a gap in the cycles table, unknown all the same)."""
OVERLOAD_SHARE = 0.25
"""A timeout is the monitor's own when its event loop stalled for at least this share of the
timeout during the probe: the answer may have been there, unread."""


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
        nofile: int | None = None,
    ) -> None:
        """`nofile`: the open-file limit to plan for (default: this process's soft limit)."""
        self.config = config
        self.store = store
        self.clock = clock
        # Counted from the configuration alone: the secrets are read on first use.
        keep = sum(1 for s in config.servers if _keeps_ssh_open(config, s))
        self.budget: FileBudget = plan_files(config, keep, nofile)
        self.listeners: list[BatchListener] = []
        self.health = Health(clock, clear_after=max(config.monitor.interval, 60.0))
        self.watch = LoopWatch()
        self._known: dict[str, list[tuple[str, str]]] = {}
        self._tls = ssl.create_default_context()
        self._semaphore = asyncio.Semaphore(config.monitor.concurrency)
        self._cycle_lock = asyncio.Lock()
        self._next_cycle = 0
        self._ssh_pool = SshPool(keepalive_interval=60.0, max_open=keep)
        self._pins: dict[str, str] = {}
        self._unstored: list[Sample] = []
        # issue 12: web service checks probe beside the servers when their ids are asked for
        self.web = WebProber(config.web_checks, clock=clock, base=config.source.parent)

    @functools.cached_property
    def targets(self) -> dict[str, ServerTarget]:
        """Every server with its secrets, read on first use: a command that only reads the
        store (`nls sql`, `nls mail list`) needs no probe credentials."""
        return resolve_targets(self.config)

    async def start(self) -> None:
        self.watch.start()
        await self.store.call(Store.sync_inventory, self.config)
        self._known = await self.store.call(Store.known_cameras)
        self._next_cycle = await self.store.call(Store.next_cycle_id)
        self._pins = await self.store.call(Store.host_keys)

    async def close(self) -> None:
        await self.watch.stop()
        await self._ssh_pool.close()
        shutdown_parser_pool()
        await self.web.close()

    async def __aenter__(self) -> Engine:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def run_cycle(
        self,
        server_ids: Iterable[str] | None = None,
        alerts: Decider | None = None,
        *,
        due: datetime | None = None,
    ) -> Batch:
        """Probe the given servers (all when None) and store their samples as one batch.
        `due`: when the batch was scheduled, to measure how late its probes started."""
        return await self.record(await self.probe(server_ids, due=due), alerts)

    async def probe(
        self, server_ids: Iterable[str] | None = None, *, due: datetime | None = None
    ) -> Probed:
        """Probe servers concurrently and evaluate their checks; nothing is stored yet.

        A probe that failed because of the monitor itself (no free file descriptor or port, a
        stalled event loop) gives `unknown` samples and raises the self-health alarm. Web check
        ids may be given beside server ids (None means every server, no web check).
        """
        ids = list(dict.fromkeys(self.targets if server_ids is None else server_ids))
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
        faults: dict[str, list[str]] = {}
        for probe in probes:
            fault = _own_fault(probe)
            if fault is not None:
                faults.setdefault(fault[0], []).append(fault[1])
            target = self.targets[probe.server]
            samples.extend(evaluate(probe, self._known.get(probe.server, ()), target.limits))
            if probe.eocortex.ok:
                seen = [(c.id, c.name) for c in probe.eocortex.cameras]
                before = set(self._known.get(probe.server, ()))
                cameras.extend(
                    (probe.server, c, name) for c, name in seen if (c, name) not in before
                )
                self._known[probe.server] = seen
        for kind, details in faults.items():
            self.health.fault(kind, details[0], len(details))
        lag = None
        if due is not None and probes:
            lag = max(0.0, (max(p.ts for p in probes) - due).total_seconds())
        return Probed(started, tuple(samples), tuple(cameras), lag)

    async def record(self, probed: Probed, alerts: Decider | None = None) -> Batch:
        """Store a probed batch, with its alert states and mails when `alerts` decides them.

        Batches are numbered and stored one at a time, and alerting sees them in that order.
        """
        async with self._cycle_lock:
            outcome = None
            try:
                await self._write_unstored()
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
            except (StoreError, OSError, duckdb.Error) as exc:
                # Not committed, so alerting never adopts the outcome: the batch counts for
                # nothing, and its samples are stored as unknown once the store works again.
                self._keep_unstored(probed.samples, exc)
                if not isinstance(exc, StoreFatal):
                    self.health.fault("store", _first_line(exc), len(probed.samples))
                raise
            if alerts and outcome:
                alerts.commit(outcome)
            self.health.settle()
            batch = Batch(
                cycle,
                probed.started,
                finished,
                probed.samples,
                timings,
                len(outcome.notifications) if outcome else 0,
                incident_servers=tuple(a.server for a in getattr(outcome, "incidents", ()))
                if outcome
                else (),
                lag_s=probed.lag_s,
            )
        for listener in self.listeners:
            try:
                result = listener(batch)
                if asyncio.iscoroutine(result):
                    await result
            except (OSError, StoreError) as exc:
                # The batch is stored; a view that could not refresh catches up with the next.
                # (With no free file descriptor this happens every batch: one line, no trace.)
                log.error(
                    "after a stored batch: %s",
                    _first_line(exc),
                    extra={"event": "listener_failed", "cycle": batch.cycle},
                )
        return batch

    def _keep_unstored(self, samples: Sequence[Sample], exc: BaseException) -> None:
        why = f"not stored: the monitor's database failed ({_first_line(exc)[:120]})"
        self._unstored.extend(
            Sample(s.ts, s.server, s.check, s.subject, "unknown", None, why, s.label)
            for s in samples
        )
        if len(self._unstored) > UNSTORED_CAP:
            dropped = len(self._unstored) - UNSTORED_CAP
            del self._unstored[:dropped]
            log.warning("dropped %d unknown samples kept for the failing store", dropped)

    def unstored(self, server_ids: Iterable[str]) -> tuple[Sample, ...]:
        """The newest unknown sample per key of these servers still waiting for the store."""
        wanted = set(server_ids)
        return tuple(latest_per_key([s for s in self._unstored if s.server in wanted]))

    async def _write_unstored(self) -> None:
        """Store, as their own batch, the unknown samples of batches the store failed to take."""
        if not self._unstored:
            return
        samples, self._unstored = self._unstored, []
        cycle = self._next_cycle
        self._next_cycle += 1
        try:
            await self.store.call(
                Store.write_cycle, cycle, samples[0].ts, self.clock(), latest_per_key(samples)
            )
        except BaseException:
            self._unstored = samples + self._unstored
            raise
        log.info("stored %d samples as unknown for batches the store had failed", len(samples))

    async def _probe(self, target: ServerTarget) -> ServerProbe:
        """The Eocortex API, SSH metrics and the RDP handshake of one server, side by side."""
        monitor = self.config.monitor
        async with self._semaphore:
            ts = self.clock()
            t0 = time.monotonic()
            eoc, host, rdp = await asyncio.gather(
                probe_eocortex(
                    None,
                    target.api_url,
                    target.login,
                    target.password,
                    request_timeout=monitor.request_timeout,
                    server_timeout=monitor.server_timeout,
                    responsetype=self.config.eocortex.responsetype,
                    tls=self._tls,
                ),
                self._probe_ssh(target),
                self._probe_rdp(target),
            )
        probe = ServerProbe(server=target.config.id, ts=ts, eocortex=eoc, host=host, rdp=rdp)
        stall = self.watch.stalled(t0)
        if stall >= OVERLOAD_SHARE * monitor.request_timeout:
            _blame_overload(probe, stall)
        return probe

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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _blame_overload(probe: ServerProbe, stall: float) -> None:
    """Timeouts seen while this process's event loop stood still are the monitor's own: the
    server may well have answered in time. They become `local` failures (samples unknown)."""
    why = f"the monitor's event loop stalled {stall:.1f} s during the probe (overload)"
    eoc = probe.eocortex
    if not eoc.ok and eoc.error_kind == "timeout":
        eoc.error_kind, eoc.error = "local", why
    host = probe.host
    if isinstance(host, HostResult) and host.error_kind == "timeout":
        probe.host = replace(host, error_kind="local", error=why)
    rdp = probe.rdp
    if isinstance(rdp, RdpResult) and rdp.state in ("timeout", "hung"):
        probe.rdp = replace(rdp, state="local", detail=why)


def _own_fault(probe: ServerProbe) -> tuple[str, str] | None:
    """("overload" | "local", first error) when the monitor itself failed this probe."""
    texts = []
    eoc = probe.eocortex
    if not eoc.ok and eoc.error_kind == "local":
        texts.append(eoc.error or "")
    host = probe.host
    if isinstance(host, HostResult) and host.error_kind == "local":
        texts.append(host.error or "")
    rdp = probe.rdp
    if isinstance(rdp, RdpResult) and rdp.state == "local":
        texts.append(rdp.detail)
    if not texts:
        return None
    kind = "overload" if any("overload" in t for t in texts) else "local"
    return kind, texts[0]


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


def _keeps_ssh_open(config: Config, server: Server) -> bool:
    settings = ssh_settings_for(config, server)
    return settings is not None and settings.keep_open


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
