"""The lean HTTP/1.1 client against raw answers over real loopback sockets, hostile ones too."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from probes.http11 import Http11Session, HttpFailure


class Raw:
    """A server answering each request on a connection with the next scripted reply; a b""
    reply closes the connection instead."""

    def __init__(self) -> None:
        self.replies: list[bytes] = []
        self.port = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            for reply in list(self.replies):
                if reply == b"":
                    break
                await reader.readuntil(b"\r\n\r\n")
                writer.write(reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


@pytest.fixture
async def answer() -> AsyncIterator[Raw]:
    raw = Raw()
    server = await asyncio.start_server(raw.serve, "127.0.0.1", 0)
    raw.port = server.sockets[0].getsockname()[1]
    yield raw
    server.close()
    await server.wait_closed()


async def get(raw: Raw, replies: list[bytes], count: int = 1) -> list[tuple[int, bytes]]:
    raw.replies = replies
    out = []
    async with Http11Session(f"http://127.0.0.1:{raw.port}") as session:
        for _ in range(count):
            out.append(await asyncio.wait_for(session.get("/x?a=1", max_body=1000), 5))
    return out


async def test_content_length_chunked_and_keep_alive(answer: Raw) -> None:
    plain = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: 1\r\n\r\n"
    )
    interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    got = await get(answer, [plain, chunked, interim], count=3)
    assert got == [(200, b"hello"), (200, b"abcde"), (200, b"ok")]


async def test_a_body_that_ends_with_the_connection(answer: Raw) -> None:
    got = await get(answer, [b"HTTP/1.0 200 OK\r\n\r\nuntil close", b""])
    assert got == [(200, b"until close")]


async def test_an_error_status_is_returned_without_reading_its_body(answer: Raw) -> None:
    got = await get(answer, [b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 99999\r\n\r\nno"])
    assert got == [(401, b"")]


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        (b"SSH-2.0-OpenSSH\r\n\r\n", "protocol"),
        (b"HTTP/1.1 2000 OK\r\n\r\n", "protocol"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "protocol"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc", "protocol"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "protocol"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "protocol"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "protocol"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n", "too_large"),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7d0\r\n" + b"x" * 2000,
            "too_large",
        ),
        (b"HTTP/1.1 200 OK\r\nX: " + b"y" * 70_000, "protocol"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "closed"),
    ],
)
async def test_broken_answers_are_refused(answer: Raw, reply: bytes, kind: str) -> None:
    with pytest.raises(HttpFailure) as failed:
        await get(answer, [reply, b""])
    assert failed.value.kind == kind


async def test_nothing_listening_is_a_connect_failure() -> None:
    async with Http11Session("http://127.0.0.1:9") as session:
        with pytest.raises(HttpFailure) as failed:
            await session.get("/", max_body=10)
    assert failed.value.kind == "connect" and failed.value.text == "connection refused"
