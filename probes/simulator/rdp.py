"""Simulated RDP endpoints: answer the X.224 Connection Request per the server's HostModes.rdp.

confirm = CC + RDP_NEG_RSP (HYBRID on Windows, SSL on Linux/xrdp); neg_failure = CC +
RDP_NEG_FAILURE (SSL_NOT_ALLOWED_BY_SERVER); legacy = bare 11-byte CC; silent = accept and
never answer; reset = read the request, then RST. The mode is read when the request arrives.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from probes.simulator.fleet import SimServer

SSL_NOT_ALLOWED_BY_SERVER = 2
_LINGER_RST = struct.pack("ii", 1, 0)

RdpListenerFactory = Callable[["SimServer"], Awaitable[list[asyncio.AbstractServer]]]


def connection_confirm(kind: int | None = None, value: int = 0, flags: int = 0) -> bytes:
    """A TPKT-framed X.224 CC, with an RDP_NEG_RSP (kind 2) or RDP_NEG_FAILURE (3) if asked."""
    neg = b"" if kind is None else struct.pack("<BBHI", kind, flags, 8, value)
    x224 = bytes([6 + len(neg), 0xD0, 0, 0, 0x12, 0x34, 0]) + neg
    return struct.pack(">BBH", 3, 0, 4 + len(x224)) + x224


def reply_for(server: SimServer) -> bytes | None:
    """The bytes `server` answers with, None for silent/reset."""
    mode = server.host.rdp
    if mode == "confirm":
        return connection_confirm(2, 2 if server.platform == "windows" else 1, flags=0x01)
    if mode == "neg_failure":
        return connection_confirm(3, SSL_NOT_ALLOWED_BY_SERVER)
    if mode == "legacy":
        return connection_confirm()
    return None


class _RdpProtocol(asyncio.Protocol):
    __slots__ = ("_buf", "_server", "_transport")

    def __init__(self, server: SimServer) -> None:
        self._server = server
        self._buf = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        self._buf += data
        size = len(self._buf)
        if size < 4096 and (size < 4 or size < struct.unpack(">H", self._buf[2:4])[0]):
            return
        mode = self._server.host.rdp
        if mode == "silent":
            self._buf = b""
            return
        if mode == "reset":
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
            transport.abort()
            return
        reply = reply_for(self._server)
        if reply is not None:
            transport.write(reply)
        transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None


def rdp_listener_factory() -> RdpListenerFactory:
    """A `Fleet.add_listener_factory` factory: one RDP listener per server on its rdp_port."""

    async def factory(server: SimServer) -> list[asyncio.AbstractServer]:
        loop = asyncio.get_running_loop()
        listener = await loop.create_server(
            lambda: _RdpProtocol(server),
            server.address,
            server.rdp_port,
            reuse_address=True,
            backlog=128,
        )
        if server.rdp_port == 0:
            server.rdp_port = listener.sockets[0].getsockname()[1]
        return [listener]

    return factory
