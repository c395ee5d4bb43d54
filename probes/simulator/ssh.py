"""Simulated SSH endpoints answering the host-metrics commands from each server's HostModes.

The answer never sleeps the real window: every snapshot is printed at once, with counters
advanced as if `window_s / samples` had passed between them, so the parser computes the
scripted rates. One host key and one option set serve the whole fleet (cheap to start 1,000).

Modes (read at each command, so faults switched at run time apply at the next probe):
cpu steady = 20-40 % busy, high = 99 %+ on every sample, spike = first sample 100 % then steady;
disk steady = 2-8 MB/s written to the whole disk, idle = no writes; ssh down = the connection
is accepted and reset at once (the Fleet only reopens listeners on host_down, so the port
stays bound).
"""

from __future__ import annotations

import asyncio
import hmac
import random
import socket
import struct
import zlib
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

import asyncssh

from probes.hostmetrics import MARK, CommandSpec, describe_command

if TYPE_CHECKING:
    from probes.simulator.fleet import SimServer

HZ = 100
CPUS = 4
MB = 1024 * 1024
_LINGER_RST = struct.pack("ii", 1, 0)

Listen = Callable[["SimServer"], Awaitable[list[asyncio.AbstractServer]]]


class SshListenerFactory:
    """Opens one server's SSH listener when called; `host_key` is the fleet's one host key."""

    def __init__(self, host_key: asyncssh.SSHKey, listen: Listen) -> None:
        self.host_key = host_key
        self._listen = listen

    def __call__(self, server: SimServer) -> Awaitable[list[asyncio.AbstractServer]]:
        return self._listen(server)


def _rng(server: SimServer, calls: dict[str, int]) -> random.Random:
    n = calls.get(server.id, 0)
    calls[server.id] = n + 1
    return random.Random(zlib.crc32(f"{server.id}/{n}".encode()))


def cpu_series(mode: str, samples: int, rng: random.Random) -> list[float]:
    """Per-sample busy % for a CPU mode."""
    steady = [rng.uniform(20.0, 40.0) for _ in range(samples)]
    if mode == "high":
        return [rng.uniform(99.2, 99.9) for _ in range(samples)]
    if mode == "spike":
        return [100.0, *steady[1:]]
    return steady


def disk_rate(mode: str, rng: random.Random) -> float:
    """Bytes/s written for a disk mode."""
    return 0.0 if mode == "idle" else rng.uniform(2 * MB, 8 * MB)


def linux_output(spec: CommandSpec, cpu: list[float], write_bps: float, seed: int) -> str:
    """What `linux_command` prints on a 4-CPU host with vda (+ vda1, dm-0, loop0) disks."""
    step = spec.window_s / spec.samples
    ticks = CPUS * HZ * step
    user, system, idle, iowait = 1_000_000 + seed % 9973, 400_000, 9_000_000, 50_000
    sectors = 50_000_000 + seed % 100_003
    uptime = 100_000.0 + seed % 50_000
    lines = [f"{MARK} linux v1 window={spec.window_s:g} samples={spec.samples}"]
    lines.append(f"{MARK} blocks loop0 vda zram0")
    for i in range(spec.samples + 1):
        lines.append(f"{MARK} snap {i}")
        lines.append(f"{uptime:.2f} {uptime * CPUS * 0.7:.2f}")
        lines.append(f"cpu  {user} 0 {system} {idle} {iowait} 0 1200 0 0 0")
        for major, minor, name, written in (
            (7, 0, "loop0", 0),
            (254, 0, "vda", sectors),
            (254, 1, "vda1", sectors),
            (253, 0, "dm-0", sectors),
            (253, 1, "zram0", 0),
        ):
            lines.append(
                f"{major:4d} {minor:7d} {name} 9000 10 700000 4000 20000 300 {written} "
                "9000 0 12000 13000 0 0 0 0 100 20"
            )
        if i == spec.samples:
            break
        busy = round(ticks * cpu[i] / 100)
        user += busy * 3 // 4
        system += busy - busy * 3 // 4
        idle_ticks = round(ticks) - busy
        iowait += idle_ticks // 10
        idle += idle_ticks - idle_ticks // 10
        sectors += round(write_bps * step / 512)
        uptime += step
    lines.append(f"{MARK} end")
    return "\n".join(lines) + "\n"


def windows_output(spec: CommandSpec, cpu: list[float], write_bps: float) -> str:
    """What `windows_command` prints on a host with disks "0 C:" (system) and "1 D:" (archive)."""
    disks = {"0 C:": 40_000.0, "1 D:": write_bps}
    if spec.disk is None:
        chosen = {"_Total": sum(disks.values())}
    elif len(spec.disk) == 1:
        chosen = {n: v for n, v in disks.items() if n.endswith(f" {spec.disk.upper()}:")}
    else:
        chosen = {n: v for n, v in disks.items() if n == spec.disk}
    if write_bps == 0.0:
        chosen = {n: 0.0 for n in chosen}
    lines = [f"{MARK} windows v1 window={spec.window_s:g} samples={spec.samples}"]
    for i in range(spec.samples):
        lines.append(f"{MARK} cpu {i} {min(100, round(cpu[i]))}")
        lines.extend(f"{MARK} disk {i} {round(v)} {n}" for n, v in chosen.items())
    lines.append(f"{MARK} end")
    return "\r\n".join(lines) + "\r\n"


def answer(
    server: SimServer, command: str, spec: CommandSpec | None, rng: random.Random
) -> tuple[str, str, int]:
    """(stdout, stderr, exit status) that `server` gives for `command` (`spec` describes it)."""
    first = command.split(" ", 1)[0] if command else ""
    if spec is None:
        if server.platform == "windows":
            msg = f"'{first}' is not recognized as an internal or external command\r\n"
            return "", msg, 1
        return "", f"sh: 1: {first}: not found\n", 127
    if spec.platform != server.platform:
        if server.platform == "windows":
            return "", "'LC_ALL' is not recognized as an internal or external command\r\n", 1
        return "", "sh: 1: powershell: not found\n", 127
    cpu = cpu_series(server.host.cpu, spec.samples, rng)
    bps = disk_rate(server.host.disk, rng)
    if spec.platform == "linux":
        return linux_output(spec, cpu, bps, zlib.crc32(server.id.encode())), "", 0
    return windows_output(spec, cpu, bps), "", 0


class _Auth(asyncssh.SSHServer):
    """Accepts the fleet's user with its password and/or one of the authorized keys."""

    def __init__(
        self, server: SimServer, username: str, password: str | None, keys: frozenset[str]
    ) -> None:
        self._server = server
        self._username = username
        self._password = password
        self._keys = keys

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        if self._server.host.ssh == "down":
            sock = conn.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
            conn.abort()
            return
        # asyncssh keeps the transport private; host_down needs it to go silent (not reset)
        self._transport = getattr(conn, "_transport", None)
        if self._transport is not None:
            self._server._host_conns.add(self._transport)

    def connection_lost(self, exc: Exception | None) -> None:
        transport = getattr(self, "_transport", None)
        if transport is not None:
            self._server._host_conns.discard(transport)

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return self._password is not None

    def validate_password(self, username: str, password: str) -> bool:
        return (
            self._password is not None
            and username == self._username
            and hmac.compare_digest(password.encode(), self._password.encode())
        )

    def public_key_auth_supported(self) -> bool:
        return bool(self._keys)

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return username == self._username and key.get_fingerprint("sha256") in self._keys


def ssh_listener_factory(
    *,
    username: str,
    password: str | None = None,
    authorized_keys: Iterable[str] = (),
    host_key: asyncssh.SSHKey | None = None,
    realtime: bool = False,
) -> SshListenerFactory:
    """A `Fleet.add_listener_factory` factory: one SSH listener per server on its ssh_port.

    `authorized_keys` are OpenSSH public key lines; `host_key` defaults to one ed25519 key
    generated here for the whole fleet (see `.host_key` on the returned factory).
    """
    key = host_key or asyncssh.generate_private_key("ssh-ed25519")
    fps = frozenset(
        asyncssh.import_public_key(k).get_fingerprint("sha256") for k in authorized_keys
    )
    if password is None and not fps:
        raise ValueError("give a password or at least one authorized key")
    calls: dict[str, int] = {}
    base = asyncssh.SSHServerConnectionOptions(
        server_host_keys=[key],
        kex_algs=["curve25519-sha256", "curve25519-sha256@libssh.org"],
        encryption_algs=["aes128-gcm@openssh.com", "chacha20-poly1305@openssh.com"],
        login_timeout=30,
        keepalive_interval=0,
        allow_scp=False,
        agent_forwarding=False,
        x11_forwarding=False,
    )

    def handler(server: SimServer) -> Callable[[asyncssh.SSHServerProcess], Any]:
        async def handle(process: asyncssh.SSHServerProcess) -> None:
            command = process.command or ""
            spec = describe_command(command)
            if realtime and spec is not None:
                await asyncio.sleep(spec.window_s)
            out, err, status = answer(server, command, spec, _rng(server, calls))
            if out:
                process.stdout.write(out)
            if err:
                process.stderr.write(err)
            process.exit(status)

        return handle

    async def factory(server: SimServer) -> list[asyncio.AbstractServer]:
        listener = await asyncssh.listen(
            server.address,
            server.ssh_port,
            options=base,
            server_factory=lambda: _Auth(server, username, password, fps),
            process_factory=handler(server),
            reuse_address=True,
            backlog=128,
        )
        if server.ssh_port == 0:
            server.ssh_port = listener.get_port()
        return [listener]  # type: ignore[list-item]

    return SshListenerFactory(key, factory)
