"""A lean HTTP/1.1 GET client for the status probes: one connection per probe, never kept idle.

httpx costs about a millisecond of CPU per request through its transport, pool and stream
layers, and h11 (tried next) most of what remained; a fleet probe only needs a few GETs in a
row to one host, so this client is an asyncio Protocol with a small response parser and the
request written as one prebuilt line. A connection lives for one probe and is closed at its
end, so nothing holds an open file across the gap between two probes (15 minutes in
production).

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


_HEAD, _BODY, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILER, _UNTIL_CLOSE = range(7)
MAX_LINE = 4096


class _Protocol(asyncio.Protocol):
    """Parses one response at a time with bytes.find over a buffer: status line and headers,
    then a Content-Length body, a chunked body or a body that ends with the connection.

    A hand parser because h11's event machinery cost more CPU per request than everything
    else in a probe; the cases a status API can send are few, and everything else (a bad
    status line, a header without a colon, conflicting lengths, a broken chunk) is refused as
    `protocol`. Only a 200 answer's body is read; any other status resolves at once.
    """

    __slots__ = (
        "_body",
        "_buf",
        "_cap",
        "_keep",
        "_left",
        "_phase",
        "_status",
        "closed",
        "transport",
        "waiter",
    )

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.closed = False
        self._buf = bytearray()
        self._body = bytearray()
        self._phase = _HEAD
        self._status = 0
        self._left = 0
        self._cap = 0
        self._keep = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if self._phase == _UNTIL_CLOSE:
            waiter.set_result((self._status, bytes(self._body)))
        else:
            waiter.set_exception(HttpFailure("closed", "connection closed before a full answer"))

    def data_received(self, data: bytes) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        self._buf += data
        try:
            self._advance(waiter)
        except HttpFailure as exc:
            self._keep = False
            if not waiter.done():
                waiter.set_exception(exc)

    def eof_received(self) -> bool:
        return False

    def _advance(self, waiter: asyncio.Future[tuple[int, bytes]]) -> None:
        buf = self._buf
        while not waiter.done():
            phase = self._phase
            if phase == _HEAD:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(buf) > MAX_HEADERS:
                        raise HttpFailure("protocol", "not a valid HTTP answer (headers too large)")
                    return
                head = bytes(buf[:end])
                del buf[: end + 4]
                if self._head(head, waiter):
                    return
            elif phase in (_BODY, _CHUNK_DATA):
                take = min(self._left, len(buf))
                self._add(buf[:take])
                del buf[:take]
                self._left -= take
                if self._left:
                    return
                if phase == _BODY:
                    self._done(waiter)
                else:
                    self._phase = _CHUNK_END
            elif phase == _CHUNK_END:
                if len(buf) < 2:
                    return
                if buf[:2] != b"\r\n":
                    raise HttpFailure("protocol", "not a valid HTTP answer (bad chunk end)")
                del buf[:2]
                self._phase = _CHUNK_SIZE
            elif phase == _CHUNK_SIZE:
                end = buf.find(b"\r\n")
                if end < 0:
                    if len(buf) > MAX_LINE:
                        raise HttpFailure("protocol", "not a valid HTTP answer (chunk size)")
                    return
                text = bytes(buf[:end]).split(b";", 1)[0].strip()
                del buf[: end + 2]
                try:
                    size = int(text, 16)
                except ValueError:
                    raise HttpFailure("protocol", "not a valid HTTP answer (chunk size)") from None
                if size < 0:
                    raise HttpFailure("protocol", "not a valid HTTP answer (chunk size)")
                if size == 0:
                    self._phase = _TRAILER
                else:
                    self._left = size
                    self._phase = _CHUNK_DATA
            elif phase == _TRAILER:
                if buf[:2] == b"\r\n":
                    del buf[:2]
                    self._done(waiter)
                    continue
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(buf) > MAX_HEADERS:
                        raise HttpFailure("protocol", "not a valid HTTP answer (trailers)")
                    return
                del buf[: end + 4]
                self._done(waiter)
            else:  # _UNTIL_CLOSE
                self._add(buf)
                buf.clear()
                return

    def _head(self, head: bytes, waiter: asyncio.Future[tuple[int, bytes]]) -> bool:
        """Interpret a status line and headers; True when the answer is already complete."""
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or len(parts[1]) != 3:
            raise HttpFailure("protocol", "not a valid HTTP answer (status line)")
        try:
            status = int(parts[1])
        except ValueError:
            raise HttpFailure("protocol", "not a valid HTTP answer (status line)") from None
        length: int | None = None
        chunked = False
        keep = parts[0] == b"HTTP/1.1"
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon or not name or name != name.strip():
                raise HttpFailure("protocol", "not a valid HTTP answer (header line)")
            key = name.lower()
            value = value.strip()
            if key == b"content-length":
                if not value.isdigit() or (length is not None and length != int(value)):
                    raise HttpFailure("protocol", "not a valid HTTP answer (Content-Length)")
                length = int(value)
            elif key == b"transfer-encoding":
                chunked = value.lower().split(b",")[-1].strip() == b"chunked"
                if not chunked:
                    raise HttpFailure("protocol", "not a valid HTTP answer (Transfer-Encoding)")
            elif key == b"connection":
                tokens = {t.strip() for t in value.lower().split(b",")}
                keep = (keep and b"close" not in tokens) or b"keep-alive" in tokens
        if 100 <= status < 200:
            return False  # an interim answer: the real one follows
        self._status = status
        self._keep = keep
        if status != 200:
            self._keep = False  # its body is never read
            waiter.set_result((status, b""))
            return True
        if chunked:
            self._phase = _CHUNK_SIZE
        elif length is not None:
            if length > self._cap:
                raise HttpFailure("too_large", "answer too large")
            self._left = length
            self._phase = _BODY
            if length == 0:
                self._done(waiter)
                return True
        else:
            self._keep = False
            self._phase = _UNTIL_CLOSE
        return False

    def _add(self, data: bytes | bytearray) -> None:
        self._body += data
        if len(self._body) > self._cap:
            raise HttpFailure("too_large", "answer too large")

    def _done(self, waiter: asyncio.Future[tuple[int, bytes]]) -> None:
        waiter.set_result((self._status, bytes(self._body)))

    def start(self, request: bytes, cap: int) -> asyncio.Future[tuple[int, bytes]]:
        assert self.transport is not None
        self._status = 0
        self._body = bytearray()
        self._buf.clear()
        self._phase = _HEAD
        self._cap = cap
        self._keep = False
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self.waiter

    def reusable(self) -> bool:
        """The last answer was complete, nothing unread follows it, and both sides keep the
        connection open."""
        waiter = self.waiter
        return bool(
            self._keep
            and not self.closed
            and self.transport is not None
            and not self.transport.is_closing()
            and waiter is not None
            and waiter.done()
            and not waiter.exception()
            and not self._buf
        )


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

    def request(self, target: str) -> bytes:
        path = self.prefix + target
        if any(c in path for c in " \r\n"):
            raise ValueError("a request target may not hold spaces or line breaks")
        return (
            f"GET {path} HTTP/1.1\r\nHost: {self.host_header}\r\nAccept: */*\r\n"
            "User-Agent: nls-probe\r\n\r\n"
        ).encode("ascii")

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
