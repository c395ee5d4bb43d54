"""A lean HTTP/1.1 GET client for the status probes: one connection per probe, never kept idle.

httpx costs about a millisecond of CPU per request through its transport, pool and stream
layers; a fleet probe only needs a few GETs in a row to one host, so this client is an asyncio
Protocol feeding h11 (the same parser the simulator serves with), with the request line
prebuilt. A connection lives for one probe and is closed at its end, so nothing holds an open
file across the gap between two probes (15 minutes in production).

Errors are `HttpFailure` with a kind: `connect` (the peer refused or cannot be reached),
`local` (this process could not open a socket: no free file descriptor, no ephemeral port,
no buffer memory: the monitor's failure, not the server's), `closed` (the connection ended
before a full answer), `protocol` (not HTTP), `too_large`. Timeouts are the caller's.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
from urllib.parse import urlsplit

import h11

MAX_HEADERS = 64 * 1024
LOCAL_ERRNOS = frozenset(
    {
        errno.EMFILE,  # this process has no free file descriptor
        errno.ENFILE,  # the system has none
        errno.EADDRNOTAVAIL,  # no free local address/ephemeral port
        errno.ENOBUFS,  # no socket buffer memory
        errno.ENOMEM,
    }
)


class HttpFailure(Exception):
    def __init__(self, kind: str, text: str, errno_: int | None = None) -> None:
        super().__init__(text)
        self.kind = kind
        self.text = text
        self.errno = errno_


def is_local_error(exc: BaseException) -> bool:
    """True when an OSError (or one in its cause chain) is this host's resource exhaustion."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, OSError) and seen.errno in LOCAL_ERRNOS:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class _Protocol(asyncio.Protocol):
    """Feeds received bytes to h11 and resolves one waiter per response."""

    __slots__ = ("_body", "_cap", "_status", "closed", "conn", "transport", "waiter")

    def __init__(self) -> None:
        self.conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEADERS)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.closed = False
        self._status = 0
        self._body = bytearray()
        self._cap = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            try:
                self.conn.receive_data(b"")
                self._drive()
            except h11.RemoteProtocolError:
                pass
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_exception(
                    HttpFailure("closed", "connection closed before a full answer")
                )

    def data_received(self, data: bytes) -> None:
        if self.waiter is None or self.waiter.done():
            return
        self.conn.receive_data(data)
        self._drive()

    def eof_received(self) -> bool:
        return False

    def _drive(self) -> None:
        waiter = self.waiter
        assert waiter is not None
        while not waiter.done():
            try:
                event = self.conn.next_event()
            except h11.RemoteProtocolError as exc:
                waiter.set_exception(HttpFailure("protocol", f"not a valid HTTP answer ({exc})"))
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            kind = type(event)
            if kind is h11.Response:
                self._status = event.status_code  # type: ignore[union-attr]
                if self._status != 200:
                    # Only the status matters; the body of an error page is never read.
                    waiter.set_result((self._status, b""))
                    return
            elif kind is h11.Data:
                self._body += event.data  # type: ignore[union-attr]
                if len(self._body) > self._cap:
                    waiter.set_exception(HttpFailure("too_large", "answer too large"))
                    return
            elif kind is h11.EndOfMessage:
                waiter.set_result((self._status, bytes(self._body)))
                return
            elif kind is h11.ConnectionClosed:
                waiter.set_exception(
                    HttpFailure("closed", "connection closed before a full answer")
                )
                return

    def start(self, request: h11.Request, cap: int) -> asyncio.Future[tuple[int, bytes]]:
        assert self.transport is not None
        self._status = 0
        self._body = bytearray()
        self._cap = cap
        self.waiter = asyncio.get_running_loop().create_future()
        data = self.conn.send(request) or b""
        data += self.conn.send(h11.EndOfMessage()) or b""
        self.transport.write(data)
        return self.waiter

    def reusable(self) -> bool:
        if self.closed or self.transport is None or self.transport.is_closing():
            return False
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
            try:
                self.conn.start_next_cycle()
            except h11.LocalProtocolError:
                return False
            return True
        return False


class Http11Session:
    """Sequential GETs to one origin over one connection, reopened only if the server closed it.

    `close()` (or `async with`) ends it; a probe opens one session and closes it when done.
    """

    def __init__(self, base_url: str, *, tls: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.prefix = parts.path.rstrip("/")
        default = (self.scheme == "http" and self.port == 80) or (
            self.scheme == "https" and self.port == 443
        )
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.host_header = host if default else f"{host}:{self.port}"
        self.tls = tls if self.scheme == "https" else None
        if self.scheme == "https" and self.tls is None:
            self.tls = ssl.create_default_context()
        self._proto: _Protocol | None = None

    async def __aenter__(self) -> Http11Session:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        proto, self._proto = self._proto, None
        if proto is not None and proto.transport is not None:
            proto.transport.close()

    def request(self, target: str) -> h11.Request:
        return h11.Request(
            method="GET",
            target=(self.prefix + target).encode("ascii"),
            headers=[("Host", self.host_header), ("Accept", "*/*"), ("User-Agent", "nls-probe")],
        )

    async def get(self, target: str, *, max_body: int) -> tuple[int, bytes]:
        """(status, body) of GET `target` (path + query, already encoded); body only for 200.

        A reused connection that the server had closed is retried once on a fresh one.
        """
        request = self.request(target)
        reused = self._proto is not None and self._proto.reusable()
        if not reused:
            self.close()
            self._proto = await self._connect()
        proto = self._proto
        assert proto is not None
        try:
            return await proto.start(request, max_body)
        except HttpFailure as exc:
            if not (reused and exc.kind == "closed"):
                raise
        self.close()
        self._proto = proto = await self._connect()
        return await proto.start(request, max_body)

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        try:
            _, proto = await loop.create_connection(
                _Protocol,
                self.host,
                self.port,
                ssl=self.tls,
                server_hostname=self.host if self.tls else None,
            )
        except socket.gaierror:
            raise HttpFailure("connect", "cannot resolve the server's host name") from None
        except ssl.SSLError as exc:
            raise HttpFailure("protocol", f"TLS handshake failed: {exc.reason}") from None
        except OSError as exc:
            kind = "local" if exc.errno in LOCAL_ERRNOS else "connect"
            raise HttpFailure(kind, _connect_text(exc), exc.errno) from None
        return proto


_REASONS = {
    errno.ECONNREFUSED: "connection refused",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
    errno.ECONNRESET: "connection reset",
    errno.ETIMEDOUT: "connection timed out",
}


def _connect_text(exc: OSError) -> str:
    if exc.errno in _REASONS:
        return _REASONS[exc.errno]
    if exc.errno is None and "refused" in str(exc).lower():
        # create_connection with several addresses joins their errors without an errno
        return "connection refused"
    return f"cannot connect: {exc.strerror or str(exc) or type(exc).__name__}"
