"""Deterministic virtual CREST servers and their fault switches.

Each server lives on its own loopback address so a fleet of a thousand looks, to the
console, like a thousand hosts.  The state here is what the simulated protocols serve;
protocol code only reads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import socket
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from probes.simulator.http import EocortexProtocol

SERVER_FAULTS = frozenset(
    {
        "port_closed",
        "hang",
        "http_500",
        "garbage",
        "wrong_password",
        "rights_granted",
        "quirky_body",
        "host_down",
    }
)
CAMERA_FAULTS = frozenset({"camera_offline", "recording_off", "camera_disabled"})
HOST_FAULTS: dict[str, tuple[str, str]] = {
    "cpu_high": ("cpu", "high"),
    "cpu_spike": ("cpu", "spike"),
    "disk_idle": ("disk", "idle"),
    "ssh_down": ("ssh", "down"),
    "rdp_silent": ("rdp", "silent"),
    "rdp_reset": ("rdp", "reset"),
    "rdp_neg_failure": ("rdp", "neg_failure"),
    "rdp_legacy": ("rdp", "legacy"),
}
ALL_FAULTS = SERVER_FAULTS | CAMERA_FAULTS | frozenset(HOST_FAULTS)

DEFAULT_PASSWORD = "nls-simulator"
REQUEST_LOG_CAP = 1000
_NAMESPACE = uuid.UUID("6f1c3d2e-5b7a-4c1e-9a43-0e5c7e0d1c01")
_LOCATIONS = (
    "Entrance",
    "Parking",
    "Lobby",
    "Gate",
    "Warehouse",
    "Corridor",
    "Stairs",
    "Yard",
    "Cash Desk",
    "Loading Dock",
    "Perimeter",
    "Server Room",
)

ListenerFactory = Callable[["SimServer"], Awaitable[list[asyncio.AbstractServer]]]


@dataclass
class SimCamera:
    id: str
    name: str
    state: str = "Active"
    recording: bool = True
    disabled: bool = False
    archiving: bool = True


@dataclass
class HostModes:
    """Behaviour of the host-level simulators (SSH metrics, RDP), switched by host faults."""

    cpu: str = "steady"
    disk: str = "steady"
    rdp: str = "confirm"
    ssh: str = "up"


@dataclass
class SimServer:
    id: str
    name: str
    address: str
    http_port: int = 8080
    ssh_port: int = 2222
    rdp_port: int = 3389
    platform: str = "windows"
    cameras: list[SimCamera] = field(default_factory=list)
    faults: set[str] = field(default_factory=set)
    host: HostModes = field(default_factory=HostModes)
    requests: list[str] = field(default_factory=list, repr=False)
    garbage_body: bytes | None = field(default=None, repr=False)
    _http: asyncio.AbstractServer | None = field(default=None, repr=False, compare=False)
    _http_pending: bool = field(default=False, repr=False, compare=False)
    _http_wanted: bool = field(default=False, repr=False, compare=False)
    _extra: list[asyncio.AbstractServer] = field(default_factory=list, repr=False, compare=False)
    _connections: set[asyncio.Transport] = field(default_factory=set, repr=False, compare=False)
    _host_conns: set[asyncio.Transport] = field(default_factory=set, repr=False, compare=False)
    """Established SSH connections (their transports), so host_down can silence them."""
    _silent: list[asyncio.Transport] = field(default_factory=list, repr=False, compare=False)

    @cached_property
    def guid(self) -> str:
        """Server Id as Eocortex reports it in configex (SenderId, ServerInfo.Id)."""
        return str(uuid.uuid5(_NAMESPACE, self.id))

    @property
    def api_url(self) -> str:
        return f"http://{self.address}:{self.http_port}"

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "address": self.address,
            "api_url": self.api_url,
            "platform": self.platform,
            "cameras": len(self.cameras),
            "ssh_port": self.ssh_port,
            "rdp_port": self.rdp_port,
        }

    def log_request(self, entry: str) -> None:
        self.requests.append(entry)
        if len(self.requests) > REQUEST_LOG_CAP:
            del self.requests[: len(self.requests) - REQUEST_LOG_CAP]

    def camera(self, ref: int | str) -> SimCamera:
        """Find a camera by 0-based index or by id; errors list what exists."""
        if isinstance(ref, bool):
            raise ValueError(f"camera must be an index or an id, not {ref!r}")
        if isinstance(ref, int):
            if 0 <= ref < len(self.cameras):
                return self.cameras[ref]
            raise KeyError(
                f"server {self.id} has no camera index {ref} (valid: 0..{len(self.cameras) - 1})"
            )
        for cam in self.cameras:
            if cam.id == ref:
                return cam
        raise KeyError(f"server {self.id} has no camera with id {ref!r}")

    def camera_faults(self) -> list[dict[str, Any]]:
        found = []
        for index, cam in enumerate(self.cameras):
            for fault, active in (
                ("camera_offline", cam.state != "Active"),
                ("recording_off", not cam.recording),
                ("camera_disabled", cam.disabled),
            ):
                if active:
                    found.append({"camera": index, "id": cam.id, "fault": fault})
        return found


def _stable_int(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def make_cameras(server_id: str, count: int | None = None) -> list[SimCamera]:
    """Cameras of one server: ids are uuid5 of the server id, so they survive restarts."""
    if count is None:
        count = 4 + _stable_int(server_id) % 61
    base = uuid.uuid5(_NAMESPACE, server_id)
    cams = []
    for k in range(count):
        location = _LOCATIONS[k % len(_LOCATIONS)]
        number = k // len(_LOCATIONS) + 1
        camera_id = str(uuid.uuid5(base, f"camera-{k}"))
        cams.append(SimCamera(id=camera_id, name=f"{location} {number:02d}"))
    return cams


def loopback_address(base: str, index: int) -> str:
    """The index-th address from base, skipping .0 and .255 in the last octet."""
    start = ipaddress.IPv4Address(base)
    a, b, c, d = start.packed
    if a != 127:
        raise ValueError(f"base address {base} is not a loopback address")
    if d in (0, 255):
        raise ValueError(f"base address {base} must not end in .0 or .255")
    slot = c * 254 + (d - 1) + index
    third, fourth = divmod(slot, 254)
    if third > 255:
        raise ValueError(f"too many servers for base {base}")
    return f"127.{b}.{third}.{fourth + 1}"


def _bind(address: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.listen(128)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {address}:{port}: {exc.strerror}") from exc
    return sock


class Fleet:
    """A set of simulated servers with switchable faults; start() opens their listeners."""

    def __init__(
        self,
        servers: Iterable[SimServer],
        *,
        login: str = "nls",
        password: str = DEFAULT_PASSWORD,
        clock: Callable[[], datetime] = datetime.now,
    ) -> None:
        self.servers: dict[str, SimServer] = {s.id: s for s in servers}
        self.login = login
        self.password = password
        self.clock = clock
        self.unauthorized_status = 401
        self._factories: list[ListenerFactory] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._started = False

    @property
    def password_md5(self) -> str:
        return hashlib.md5(self.password.encode()).hexdigest()

    def server(self, server_id: str) -> SimServer:
        try:
            return self.servers[server_id]
        except KeyError:
            ids = sorted(self.servers)
            known = f"{ids[0]}..{ids[-1]}" if ids else "none"
            raise KeyError(f"unknown server {server_id!r} (fleet has {known})") from None

    def set_fault(
        self, server_id: str, fault: str, on: bool = True, camera: int | str | None = None
    ) -> None:
        server = self.server(server_id)
        if fault not in ALL_FAULTS:
            raise ValueError(f"unknown fault {fault!r} (known: {', '.join(sorted(ALL_FAULTS))})")
        if fault in CAMERA_FAULTS:
            if camera is None:
                raise ValueError(f"fault {fault!r} needs a camera (index or id)")
            self._set_camera_fault(server.camera(camera), fault, on)
            return
        if camera is not None:
            raise ValueError(f"fault {fault!r} applies to the whole server, not to a camera")
        if fault in HOST_FAULTS:
            self._set_host_fault(server, fault, on)
            return
        if on:
            server.faults.add(fault)
        else:
            server.faults.discard(fault)
        if fault in ("port_closed", "host_down"):
            self._sync_listeners(server, reopen_extra=fault == "host_down" and not on)

    def heal(self, server_id: str | None = None) -> None:
        targets = self.servers.values() if server_id is None else [self.server(server_id)]
        for server in targets:
            was_down = "host_down" in server.faults
            server.faults.clear()
            server.host = HostModes()
            for cam in server.cameras:
                cam.state, cam.recording, cam.disabled = "Active", True, False
            self._sync_listeners(server, reopen_extra=was_down)

    @staticmethod
    def _set_camera_fault(cam: SimCamera, fault: str, on: bool) -> None:
        if fault == "camera_offline":
            cam.state = "NoConnection" if on else "Active"
        elif fault == "recording_off":
            cam.recording = not on
        else:
            cam.disabled = on

    @staticmethod
    def _set_host_fault(server: SimServer, fault: str, on: bool) -> None:
        attr, value = HOST_FAULTS[fault]
        if on:
            server.faults.difference_update(f for f, (a, _) in HOST_FAULTS.items() if a == attr)
            server.faults.add(fault)
            setattr(server.host, attr, value)
        elif fault in server.faults:
            server.faults.discard(fault)
            setattr(server.host, attr, getattr(HostModes(), attr))

    def add_listener_factory(self, factory: ListenerFactory) -> None:
        """Let another protocol simulator (SSH, RDP) open listeners for every server.

        The factory is called per server at start and again when host_down heals; its
        listeners are closed by host_down and stop().
        """
        self._factories.append(factory)
        if self._started:
            for server in self.servers.values():
                if "host_down" not in server.faults:
                    self._spawn(self._open_extra(server, [factory]))

    def describe(self) -> list[dict[str, Any]]:
        return [s.describe() for s in self.servers.values()]

    def state(self, server_id: str | None = None) -> list[dict[str, Any]]:
        """describe() plus the active faults, for the control interface (one server's if named)."""
        servers = self.servers.values() if server_id is None else [self.server(server_id)]
        return [
            {**s.describe(), "faults": sorted(s.faults), "camera_faults": s.camera_faults()}
            for s in servers
        ]

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        try:
            for server in self.servers.values():
                self._sync_listeners(server, reopen_extra=True)
            await self.settle()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        self._started = False
        for server in self.servers.values():
            self._close_all(server)
        await self.settle()

    async def settle(self) -> None:
        """Wait until listener changes requested by set_fault/heal have taken effect."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks))

    async def __aenter__(self) -> Fleet:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def _sync_listeners(self, server: SimServer, *, reopen_extra: bool) -> None:
        if not self._started:
            return
        down = "host_down" in server.faults
        if down:
            self._silence(server)
        elif server._silent:
            # The host is back, as after a reboot: it knows none of the old connections, so
            # the peer's next packet on one of them gets a reset.
            for transport in server._silent:
                transport.abort()
            server._silent.clear()
        if down or "port_closed" in server.faults:
            self._close_http(server)
        else:
            self._open_http(server)
        if down:
            self._close_extra(server)
        elif reopen_extra and self._factories and not server._extra:
            self._spawn(self._open_extra(server, list(self._factories)))

    def _open_http(self, server: SimServer) -> None:
        server._http_wanted = True
        if server._http is not None or server._http_pending:
            return
        sock = _bind(server.address, server.http_port)
        server.http_port = sock.getsockname()[1]
        server._http_pending = True
        self._spawn(self._serve_http(server, sock))

    async def _serve_http(self, server: SimServer, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        try:
            listener = await loop.create_server(lambda: EocortexProtocol(self, server), sock=sock)
        except BaseException:
            sock.close()
            server._http_pending = False
            raise
        server._http_pending = False
        if server._http_wanted and server._http is None:
            server._http = listener
        else:
            listener.close()

    @staticmethod
    def _silence(server: SimServer) -> None:
        """A powered-off host: established connections get no answer and no reset, ever."""
        for transport in [*server._connections, *server._host_conns]:
            if transport.is_closing():
                continue
            with contextlib.suppress(AttributeError, RuntimeError):
                transport.pause_reading()
            server._silent.append(transport)
        server._connections.clear()
        server._host_conns.clear()

    def _close_http(self, server: SimServer) -> None:
        server._http_wanted = False
        if server._http is not None:
            server._http.close()
            server._http = None
        for transport in list(server._connections):
            transport.abort()
        server._connections.clear()

    async def _open_extra(self, server: SimServer, factories: list[ListenerFactory]) -> None:
        opened: list[asyncio.AbstractServer] = []
        for factory in factories:
            opened.extend(await factory(server))
        if self._started and "host_down" not in server.faults:
            server._extra.extend(opened)
        else:
            for listener in opened:
                listener.close()

    def _close_extra(self, server: SimServer) -> None:
        for listener in server._extra:
            listener.close()
        server._extra.clear()

    def _close_all(self, server: SimServer) -> None:
        self._close_http(server)
        self._close_extra(server)
        for transport in [*server._silent, *server._host_conns]:
            transport.abort()
        server._silent.clear()
        server._host_conns.clear()

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def build_fleet(
    n: int,
    *,
    cameras: int | None = None,
    password: str | None = None,
    http_port: int = 8080,
    base: str = "127.77.0.1",
    first: int = 0,
) -> Fleet:
    """n servers crest-0001.. on consecutive loopback addresses; every 4th one is Linux.

    `first`: index of the first server, so that several processes (each within its open-file
    limit) serve consecutive parts of one large fleet: ids and addresses continue."""
    if n < 0:
        raise ValueError("n must not be negative")
    if cameras is not None and cameras < 0:
        raise ValueError("cameras must not be negative")
    servers = []
    for i in range(first, first + n):
        server_id = f"crest-{i + 1:04d}"
        servers.append(
            SimServer(
                id=server_id,
                name=f"CREST-{i + 1:04d}",
                address=loopback_address(base, i),
                http_port=http_port,
                platform="linux" if i % 4 == 3 else "windows",
                cameras=make_cameras(server_id, cameras),
            )
        )
    return Fleet(servers, password=DEFAULT_PASSWORD if password is None else password)
