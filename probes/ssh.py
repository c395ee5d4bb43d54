"""SSH host-metrics probe: one command per host over asyncssh, host key always verified.

Host key policy, in order: a `pinned_key` is the sole authority (a different key is refused and
reported as a security finding); else a `known_hosts` file (with `trust_on_first_use`, a host
it has no entry for is accepted, never one whose key differs); else, with `trust_on_first_use`,
any key is accepted; else the user's ~/.ssh/known_hosts. Every result carries the presented
key (fingerprint and OpenSSH line) so the caller can pin it.

Probes never raise (except `asyncio.CancelledError`): every failure is a `HostResult` with an
`error_kind`. Secrets (password, key passphrase) are kept out of reprs, errors and logs.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import asyncssh

from probes.hostmetrics import (
    DEFAULT_SAMPLES,
    DEFAULT_WINDOW_S,
    HostMetrics,
    MetricsParseError,
    Platform,
    metrics_command,
    parse_metrics,
)
from probes.http11 import is_local_error

ErrorKind = Literal["refused", "timeout", "auth", "hostkey", "command", "garbage", "local"]
"""`local`: this process could not open a socket (no free file descriptor or ephemeral port)."""

_NO_TRUST: tuple[list, list, list] = ([], [], [])
CIPHERS = (
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
)
"""AES-GCM first: one call into OpenSSL per packet, where asyncssh's chacha20-poly1305 costs
three (measured as the largest single CPU item of a fleet probe)."""


@dataclass(frozen=True, slots=True)
class SshTarget:
    """Where and how to log in; hashable so a pool can key connections by it."""

    host: str
    port: int = 22
    username: str = ""
    password: str | None = field(default=None, repr=False)
    client_keys: tuple[str, ...] | None = None
    passphrase: str | None = field(default=None, repr=False)
    known_hosts: str | None = None
    trust_on_first_use: bool = False
    pinned_key: str | None = None
    connect_timeout: float = 10.0
    auth_timeout: float = 15.0
    command_timeout: float = 20.0

    def __post_init__(self) -> None:
        if self.client_keys is not None and not isinstance(self.client_keys, tuple):
            object.__setattr__(self, "client_keys", tuple(str(k) for k in self.client_keys))


@dataclass(frozen=True, slots=True)
class HostResult:
    """Outcome of one host probe.

    `latency_ms` is the whole probe's wall time; `connect_ms` the TCP + SSH handshake + auth time
    (None when a pooled connection was reused). `fingerprint`/`host_key` describe the key the
    server presented (SHA256:... and the OpenSSH public key line) whenever one was seen.
    """

    ok: bool
    error: str | None = None
    error_kind: ErrorKind | None = None
    metrics: HostMetrics | None = None
    fingerprint: str | None = None
    host_key: str | None = None
    finding: str | None = None
    latency_ms: float = 0.0
    connect_ms: float | None = None


class ProbeError(Exception):
    """A classified probe failure; `connect` raises it, the probes turn it into a HostResult."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        finding: str | None = None,
        presented: asyncssh.SSHKey | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.finding = finding
        self.presented = presented


def fingerprint_of(key: str) -> str:
    """SHA256 fingerprint of an OpenSSH public key line, or the fingerprint itself."""
    key = key.strip()
    if key.startswith("SHA256:"):
        return key
    return asyncssh.import_public_key(key).get_fingerprint("sha256")


def _key_text(key: asyncssh.SSHKey) -> str:
    return key.export_public_key("openssh").decode("ascii").strip()


class _Client(asyncssh.SSHClient):
    """Records the presented host key and applies the pin / TOFU policy."""

    def __init__(self, pinned_fp: str | None, accept_any: bool) -> None:
        self.presented: asyncssh.SSHKey | None = None
        self._pinned_fp = pinned_fp
        self._accept_any = accept_any

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        self.presented = key
        if self._pinned_fp is not None:
            return key.get_fingerprint("sha256") == self._pinned_fp
        return self._accept_any


def _literal(host: str, port: int) -> tuple[Any, ...] | None:
    """getaddrinfo's answer for an IP literal, without a round trip through a thread."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if address.version == 4:
        return (socket.AF_INET, socket.SOCK_STREAM, 0, "", (host, port))
    return (socket.AF_INET6, socket.SOCK_STREAM, 0, "", (host, port, 0, 0))


async def _tcp_connect(host: str, port: int, limit_s: float) -> socket.socket:
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(limit_s):
            info = _literal(host, port)
            if info is None:
                info = (await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM))[0]
            family, type_, proto, _, addr = info
            sock = socket.socket(family, type_, proto)
            sock.setblocking(False)
            try:
                await loop.sock_connect(sock, addr)
            except BaseException:
                sock.close()
                raise
            return sock
    except TimeoutError:
        raise ProbeError("timeout", f"TCP connect to {host}:{port} timed out") from None
    except ConnectionRefusedError:
        raise ProbeError("refused", f"connection to {host}:{port} refused") from None
    except OSError as exc:
        if is_local_error(exc):
            text = f"the monitor could not open a connection: {exc.strerror}"
            raise ProbeError("local", text) from None
        raise ProbeError("refused", f"cannot reach {host}:{port}: {exc.strerror}") from None


@functools.lru_cache(maxsize=16)
def _parsed_known_hosts(path: str, mtime_ns: int, size: int) -> asyncssh.SSHKnownHosts:
    return asyncssh.read_known_hosts(path)


def read_known_hosts(path: str) -> asyncssh.SSHKnownHosts:
    """Parsed once per file version: a fleet's known_hosts has a line per host, and parsing it
    for every connection made a 1,000-host cycle quadratic."""
    stat = os.stat(path)
    return _parsed_known_hosts(path, stat.st_mtime_ns, stat.st_size)


def _known_hosts_keys(target: SshTarget) -> list[str]:
    if not target.known_hosts:
        return []
    try:
        trusted, _, _, _, _, _, _ = read_known_hosts(target.known_hosts).match(
            target.host, target.host, target.port
        )
    except (OSError, ValueError):
        return []
    return list(dict.fromkeys(k.get_fingerprint("sha256") for k in trusted))


def _hostkey_error(target: SshTarget, client: _Client, pinned_fp: str | None) -> ProbeError:
    where = f"{target.host}:{target.port}"
    key = client.presented
    now = key.get_fingerprint("sha256") if key else "unknown"
    was = [pinned_fp] if pinned_fp is not None else _known_hosts_keys(target)
    if was:
        text = f"host key changed: was {', '.join(was)}, now {now}"
        return ProbeError("hostkey", f"{where}: {text}", f"{where}: {text}", key)
    return ProbeError("hostkey", f"{where}: host key {now} not in known_hosts", None, key)


def _handshake_error(target: SshTarget, exc: Exception) -> ProbeError:
    if isinstance(exc, asyncssh.PermissionDenied):
        return ProbeError("auth", f"authentication as {target.username!r} rejected")
    if isinstance(exc, TimeoutError):
        return ProbeError("timeout", "SSH handshake/authentication timed out")
    if isinstance(exc, asyncssh.ProtocolError | asyncssh.KeyExchangeFailed):
        return ProbeError("garbage", f"not a usable SSH server: {exc.reason}")
    if isinstance(exc, asyncssh.DisconnectError):
        if "timeout" in exc.reason.lower() or "timed out" in exc.reason.lower():
            return ProbeError("timeout", f"SSH handshake/authentication timed out: {exc.reason}")
        return ProbeError("refused", f"server closed the connection: {exc.reason}")
    if isinstance(exc, OSError):
        return ProbeError("refused", f"handshake failed: {exc.strerror or type(exc).__name__}")
    return ProbeError("garbage", f"handshake failed: {type(exc).__name__}")


def _auth_options(target: SshTarget) -> dict:
    keys: list[asyncssh.SSHKey] | None = None
    if target.client_keys:
        keys = []
        for path in target.client_keys:
            try:
                keys.append(asyncssh.read_private_key(path, target.passphrase))
            except (OSError, asyncssh.KeyImportError, asyncssh.KeyEncryptionError):
                raise ProbeError("auth", f"client key {path} could not be loaded") from None
    return {
        "username": target.username,
        "password": target.password,
        "client_keys": keys,
        "agent_path": None,
        "preferred_auth": ("publickey", "password", "keyboard-interactive")
        if keys
        else ("password", "keyboard-interactive"),
    }


async def connect(
    target: SshTarget, keepalive_interval: float | None = None
) -> tuple[asyncssh.SSHClientConnection, str, str]:
    """Open a verified, authenticated connection; returns it with the host key's fp and text.

    Raises `ProbeError` (classified); used by `probe_host` and `SshPool`.
    """
    pinned_fp = None
    if target.pinned_key:
        try:
            pinned_fp = fingerprint_of(target.pinned_key)
        except (ValueError, asyncssh.KeyImportError):
            msg = "pinned key is neither SHA256:... nor a public key"
            raise ProbeError("hostkey", msg) from None
    known_hosts: object = ()
    accept_any = False
    if pinned_fp is not None:
        known_hosts = _NO_TRUST
    elif target.known_hosts:
        try:
            known_hosts = read_known_hosts(target.known_hosts)
        except (OSError, ValueError) as exc:
            raise ProbeError(
                "hostkey", f"cannot read known_hosts {target.known_hosts}: {exc}"
            ) from None
        accept_any = target.trust_on_first_use and not _known_hosts_keys(target)
    elif target.trust_on_first_use:
        known_hosts, accept_any = _NO_TRUST, True
    client = _Client(pinned_fp, accept_any)
    options = _auth_options(target)
    sock = await _tcp_connect(target.host, target.port, target.connect_timeout)
    try:
        conn = await asyncssh.connect(
            target.host,
            target.port,
            sock=sock,
            config=None,
            known_hosts=known_hosts,
            client_factory=lambda: client,
            connect_timeout=target.auth_timeout,
            keepalive_interval=keepalive_interval or 0,
            keepalive_count_max=3,
            encryption_algs=CIPHERS,
            **options,
        )
    except Exception as exc:
        sock.close()
        if isinstance(exc, asyncssh.HostKeyNotVerifiable):
            raise _hostkey_error(target, client, pinned_fp) from None
        raise _handshake_error(target, exc) from None
    except BaseException:
        sock.close()
        raise
    key = conn.get_server_host_key()
    if key is None:
        conn.close()
        raise ProbeError("hostkey", "server presented no host key")
    return conn, key.get_fingerprint("sha256"), _key_text(key)


async def run_metrics(
    conn: asyncssh.SSHClientConnection,
    platform: Platform,
    window_s: float,
    samples: int,
    disk: str | None,
    extra_s: float,
    answer_s: float | None = None,
) -> HostMetrics:
    """Run the metrics command on an open connection and parse its answer.

    The command may take `window_s + extra_s`; past that asyncssh closes the channel. With
    `answer_s`, the host must first accept the session channel within that time: a live host
    does so at once, so a kept-open connection to a host that went silent (powered off) is
    found out in seconds, not after the whole command limit.
    """
    cmd = metrics_command(platform, window_s, samples, disk)
    limit = window_s + extra_s
    try:
        if answer_s is None:
            done = await conn.run(cmd, check=False, timeout=limit)
        else:
            try:
                async with asyncio.timeout(answer_s):
                    process = await conn.create_process(cmd)
            except TimeoutError:
                raise ProbeError(
                    "timeout", f"no answer within {answer_s:g} s on the open connection"
                ) from None
            done = await process.wait(check=False, timeout=limit)
    except asyncssh.TimeoutError:
        raise ProbeError("timeout", f"metrics command did not finish in {limit:g} s") from None
    if done.exit_status != 0:
        err = done.stderr if isinstance(done.stderr, str) else ""
        tail = err.strip().splitlines()[-1][:200] if err.strip() else ""
        raise ProbeError("command", f"metrics command exited {done.exit_status}: {tail}".rstrip())
    out = done.stdout if isinstance(done.stdout, str) else ""
    try:
        return parse_metrics(platform, out, window_s, disk)
    except MetricsParseError as exc:
        raise ProbeError("garbage", f"unparseable metrics output: {exc}") from None


def _presented(exc: BaseException) -> tuple[str | None, str | None]:
    key = exc.presented if isinstance(exc, ProbeError) else None
    return (key.get_fingerprint("sha256"), _key_text(key)) if key else (None, None)


def _failure(exc: BaseException) -> tuple[ErrorKind, str, str | None]:
    if isinstance(exc, ProbeError):
        return exc.kind, str(exc), exc.finding
    if isinstance(exc, asyncssh.ChannelOpenError):
        return "command", f"cannot open a session channel: {exc.reason}", None
    if isinstance(exc, asyncssh.DisconnectError):
        return "refused", f"connection lost: {exc.reason}", None
    if isinstance(exc, TimeoutError):
        return "timeout", "timed out", None
    if isinstance(exc, OSError):
        return "refused", f"network error: {exc.strerror or type(exc).__name__}", None
    if isinstance(exc, ValueError):
        return "command", f"bad probe arguments: {exc}", None
    return "command", f"unexpected {type(exc).__name__}", None


def _result(
    start: float,
    fp: str | None,
    key: str | None,
    connect_ms: float | None,
    outcome: HostMetrics | Exception,
) -> HostResult:
    """The probe's result: `outcome` is the metrics read or the exception that stopped it.

    Without a known host key (`fp` None) a failure reports the key the exception carries.
    """
    metrics = kind = error = finding = None
    if isinstance(outcome, HostMetrics):
        metrics = outcome
    else:
        kind, error, finding = _failure(outcome)
        if fp is None:
            fp, key = _presented(outcome)
    return HostResult(
        ok=metrics is not None,
        error=error,
        error_kind=kind,
        metrics=metrics,
        fingerprint=fp,
        host_key=key,
        finding=finding,
        latency_ms=(time.perf_counter() - start) * 1000,
        connect_ms=connect_ms,
    )


async def probe_host(
    target: SshTarget,
    platform: Platform,
    window_s: float = DEFAULT_WINDOW_S,
    *,
    samples: int = DEFAULT_SAMPLES,
    disk: str | None = None,
) -> HostResult:
    """One-shot probe: connect, run the metrics command, disconnect. Never raises."""
    start = time.perf_counter()
    fp = key = None
    connect_ms = None
    conn = None
    try:
        metrics_command(platform, window_s, samples, disk)
        conn, fp, key = await connect(target)
        connect_ms = (time.perf_counter() - start) * 1000
        metrics = await run_metrics(conn, platform, window_s, samples, disk, target.command_timeout)
    except Exception as exc:
        return _result(start, fp, key, connect_ms, exc)
    finally:
        if conn is not None:
            conn.close()
    return _result(start, fp, key, connect_ms, metrics)


@dataclass(slots=True)
class _Pooled:
    conn: asyncssh.SSHClientConnection
    fingerprint: str
    host_key: str


class SshPool:
    """Keeps one connection per target open between cycles (keepalives on), reconnecting on failure.

    Costs one open file per host; a changed `SshTarget` (new pin, new password) gets its own
    connection, and the old one is closed.
    """

    def __init__(
        self,
        keepalive_interval: float = 30.0,
        max_handshakes: int = 32,
        max_open: int | None = None,
    ) -> None:
        self._keepalive = keepalive_interval
        self._handshakes = asyncio.Semaphore(max_handshakes)
        self.max_open = max_open
        """At most this many kept connections (one open file each); past it, probes connect and
        disconnect per cycle, so the budget of open files holds whatever the fleet's size."""
        self._conns: dict[SshTarget, _Pooled] = {}
        self._locks: dict[SshTarget, asyncio.Lock] = {}
        self._closed = False

    @property
    def open_connections(self) -> int:
        """How many connections are kept (a `__len__` would make an empty pool falsy)."""
        return len(self._conns)

    async def _get(self, target: SshTarget) -> tuple[_Pooled, bool]:
        pooled = self._conns.get(target)
        if pooled is not None and not pooled.conn.is_closed():
            return pooled, False
        self._drop(target)
        for other in [t for t in self._conns if (t.host, t.port) == (target.host, target.port)]:
            self._drop(other)
        async with self._handshakes:
            conn, fp, key = await connect(target, self._keepalive)
        pooled = _Pooled(conn, fp, key)
        if self._closed:
            conn.close()
            raise ProbeError("refused", "pool closed")
        self._conns[target] = pooled
        return pooled, True

    def _drop(self, target: SshTarget) -> None:
        pooled = self._conns.pop(target, None)
        if pooled is not None:
            pooled.conn.close()

    async def probe(
        self,
        target: SshTarget,
        platform: Platform,
        window_s: float = DEFAULT_WINDOW_S,
        *,
        samples: int = DEFAULT_SAMPLES,
        disk: str | None = None,
    ) -> HostResult:
        """Like `probe_host`, over a kept-open connection. Never raises.

        A kept connection that turns out dead is replaced once within the same probe; a
        connection-level failure drops it so the next cycle reconnects.
        """
        full = self.max_open is not None and len(self._conns) >= self.max_open
        if full and target not in self._conns:
            return await probe_host(target, platform, window_s, samples=samples, disk=disk)
        start = time.perf_counter()
        lock = self._locks.setdefault(target, asyncio.Lock())
        async with lock:
            for attempt in (1, 2):
                pooled: _Pooled | None = None
                connect_ms = None
                try:
                    t0 = time.perf_counter()
                    pooled, fresh = await self._get(target)
                    if fresh:
                        connect_ms = (time.perf_counter() - t0) * 1000
                    metrics = await run_metrics(
                        pooled.conn,
                        platform,
                        window_s,
                        samples,
                        disk,
                        target.command_timeout,
                        answer_s=None if fresh else target.connect_timeout,
                    )
                except Exception as exc:
                    fp, key = (pooled.fingerprint, pooled.host_key) if pooled else (None, None)
                    result = _result(start, fp, key, connect_ms, exc)
                    dead = isinstance(exc, asyncssh.ChannelOpenError)
                    if dead or result.error_kind in ("refused", "timeout") or pooled is None:
                        self._drop(target)
                        if attempt == 1 and pooled is not None and connect_ms is None:
                            continue
                    return result
                return _result(start, pooled.fingerprint, pooled.host_key, connect_ms, metrics)
        raise AssertionError("unreachable")

    async def close(self) -> None:
        """Close every kept connection and wait for them to finish."""
        self._closed = True
        conns = [p.conn for p in self._conns.values()]
        self._conns.clear()
        for conn in conns:
            conn.close()
        await asyncio.gather(*(c.wait_closed() for c in conns), return_exceptions=True)
