"""RDP probe against real xrdp, silent/resetting listeners and the classification rule."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

import pytest

from probes.rdp import CONNECTION_REQUEST, classify, probe_rdp

if TYPE_CHECKING:
    from tests.realservers import RealXrdp

pytest_plugins = ["tests.realservers"]

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture
async def listen() -> AsyncIterator[Callable[[Handler], Awaitable[int]]]:
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> int:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        servers.append(server)
        return server.sockets[0].getsockname()[1]

    yield start
    for server in servers:
        server.close()


def test_request_is_the_19_byte_neg_req_without_cookie() -> None:
    assert len(CONNECTION_REQUEST) == 19
    assert CONNECTION_REQUEST.hex() == "030000130ee000000000000100080003000000"
    assert b"Cookie" not in CONNECTION_REQUEST


@pytest.mark.realserver
async def test_real_xrdp_handshake(real_xrdp: RealXrdp) -> None:
    result = await probe_rdp(real_xrdp.host, real_xrdp.port, 5.0)
    assert result.state == "alive", result
    assert result.protocol == 1 and result.failure_code is None
    assert "SSL" in result.detail and result.latency_ms > 0


async def test_silent_listener_is_hung(listen: Callable[[Handler], Awaitable[int]]) -> None:
    got = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(19)
        got.set()
        await reader.read()

    port = await listen(silent)
    result = await probe_rdp("127.0.0.1", port, 0.3)
    assert got.is_set()
    assert result.state == "hung"
    assert result.detail == "port open but no RDP answer: still booting or hung"


async def test_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = await probe_rdp("127.0.0.1", port, 1.0)
    assert result.state == "refused"


async def test_reset(listen: Callable[[Handler], Awaitable[int]]) -> None:
    async def rst(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(19)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    port = await listen(rst)
    result = await probe_rdp("127.0.0.1", port, 1.0)
    assert result.state == "reset"


async def test_http_answer_is_garbage(listen: Callable[[Handler], Awaitable[int]]) -> None:
    async def http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(19)
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        await writer.drain()
        writer.close()

    port = await listen(http)
    result = await probe_rdp("127.0.0.1", port, 1.0)
    assert result.state == "garbage"


async def test_connect_timeout_is_timeout() -> None:
    # 127.0.0.1 never times out; an unroutable loopback port cannot either, so cap at ~0 s.
    result = await probe_rdp("127.0.0.1", 9, 0.0)
    assert result.state == "timeout"


@pytest.mark.parametrize(
    ("reply", "state", "protocol", "code"),
    [
        ("030000130ed000001234000201080002000000", "alive", 2, None),
        ("030000130ed000001234000300080005000000", "alive", None, 5),
        ("0300000b06d00000123400", "alive", None, None),
        ("0300000b06e00000123400", "garbage", None, None),
        ("", "garbage", None, None),
        ("485454502f312e31", "garbage", None, None),
    ],
)
def test_classify(reply: str, state: str, protocol: int | None, code: int | None) -> None:
    got_state, _, got_protocol, got_code = classify(bytes.fromhex(reply))
    assert (got_state, got_protocol, got_code) == (state, protocol, code)
