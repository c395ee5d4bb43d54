"""RDP liveness probe: the 19-byte X.224 Connection Request, no cookie, no username.

A Connection Confirm (buf[0] == 3 and buf[5] == 0xD0) means the RDP stack is alive, whatever
the negotiation said; a TCP accept without a CC before the deadline means the machine is still
booting or hung. The whole probe (connect + answer) shares one deadline of `timeout` seconds.
"""

from __future__ import annotations

import asyncio
import struct
import time
from dataclasses import dataclass
from typing import Literal

from probes.http11 import is_local_error

RdpState = Literal["alive", "hung", "refused", "reset", "timeout", "garbage", "local"]
"""`local`: this process could not open a socket (no free file descriptor or ephemeral port)."""

CONNECTION_REQUEST = bytes.fromhex("030000130ee000000000000100080003000000")
TYPE_RDP_NEG_RSP = 2
TYPE_RDP_NEG_FAILURE = 3
PROTOCOLS = {0: "RDP", 1: "SSL", 2: "HYBRID", 4: "RDSTLS", 8: "HYBRID_EX"}
FAILURES = {
    1: "SSL_REQUIRED_BY_SERVER",
    2: "SSL_NOT_ALLOWED_BY_SERVER",
    3: "SSL_CERT_NOT_ON_SERVER",
    4: "INCONSISTENT_FLAGS",
    5: "HYBRID_REQUIRED_BY_SERVER",
    6: "SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER",
}
_MAX_REPLY = 512


@dataclass(frozen=True, slots=True)
class RdpResult:
    """`protocol` is the selectedProtocol of an RDP_NEG_RSP, `failure_code` that of an
    RDP_NEG_FAILURE; both None for a legacy CC or when nothing valid came back."""

    state: RdpState
    detail: str
    protocol: int | None = None
    failure_code: int | None = None
    latency_ms: float = 0.0

    @property
    def alive(self) -> bool:
        return self.state == "alive"


def _protocol_name(value: int) -> str:
    names = [n for bit, n in PROTOCOLS.items() if bit and value & bit]
    return "|".join(names) if names else PROTOCOLS[0]


def classify(buf: bytes) -> tuple[RdpState, str, int | None, int | None]:
    """Verdict on the bytes read: (state, detail, protocol, failure_code)."""
    if len(buf) < 6 or buf[0] != 3 or buf[5] != 0xD0:
        return "garbage", f"not an X.224 Connection Confirm: {buf[:16].hex()}", None, None
    neg = buf[11:19]
    if len(neg) == 8 and neg[0] == TYPE_RDP_NEG_RSP:
        proto = struct.unpack("<I", neg[4:8])[0]
        return "alive", f"connection confirm, selected {_protocol_name(proto)}", proto, None
    if len(neg) == 8 and neg[0] == TYPE_RDP_NEG_FAILURE:
        code = struct.unpack("<I", neg[4:8])[0]
        name = FAILURES.get(code, "unknown")
        return "alive", f"connection confirm with negotiation failure {code} ({name})", None, code
    return (
        "alive",
        "legacy connection confirm without negotiation (standard RDP security)",
        None,
        None,
    )


async def _read_reply(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readexactly(4)
    length = struct.unpack(">H", head[2:4])[0] if head[0] == 3 else 4
    if length <= 4:
        return head
    return head + await reader.readexactly(min(length, _MAX_REPLY) - 4)


async def probe_rdp(host: str, port: int = 3389, timeout: float = 5.0) -> RdpResult:  # noqa: ASYNC109
    """Send the Connection Request and classify the answer. Never raises (but CancelledError)."""
    start = time.perf_counter()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    writer: asyncio.StreamWriter | None = None

    def done(
        state: RdpState, detail: str, proto: int | None = None, code: int | None = None
    ) -> RdpResult:
        return RdpResult(state, detail, proto, code, (time.perf_counter() - start) * 1000)

    try:
        try:
            async with asyncio.timeout_at(deadline):
                reader, writer = await asyncio.open_connection(host, port, limit=_MAX_REPLY)
        except TimeoutError:
            return done("timeout", f"TCP connect to {host}:{port} timed out after {timeout:g} s")
        except ConnectionRefusedError:
            return done("refused", f"connection to {host}:{port} refused")
        except OSError as exc:
            if is_local_error(exc):
                return done("local", f"the monitor could not open a connection: {exc.strerror}")
            return done("refused", f"cannot reach {host}:{port}: {exc.strerror or exc}")
        try:
            async with asyncio.timeout_at(deadline):
                writer.write(CONNECTION_REQUEST)
                await writer.drain()
                buf = await _read_reply(reader)
        except TimeoutError:
            return done("hung", "port open but no RDP answer: still booting or hung")
        except asyncio.IncompleteReadError as exc:
            if not exc.partial:
                return done("reset", "connection closed by the server without an answer")
            buf = exc.partial
        except (ConnectionResetError, BrokenPipeError):
            return done("reset", "connection reset by the server")
        except OSError as exc:
            return done("reset", f"connection failed after accept: {exc.strerror or exc}")
        state, detail, proto, code = classify(buf)
        return done(state, detail, proto, code)
    finally:
        if writer is not None:
            writer.transport.abort()
