"""The daemon's socket protocol: frames, the method table and the error mapping.

A frame is `u32 header length | u32 blob length | header | blob` (big-endian). The header is a
JSON object, so a frame can be read by eye with `socat`; the blob carries bytes that JSON would
bloat, today only the Arrow IPC stream of an SQL result. Both sides import this module, which
must stay free of the engine, the store and Textual.

Header keys: `t` type, `id` request id (chosen by the client, echoed by the daemon), `m` method,
`a` arguments, `r` result, `e`/`msg` error type and text, `resync` on a full-state update.

    client                                   daemon
    hello {a: {v, installer}}          ->
                                       <-    welcome {r: {v, version}}  |  error
    call {id, m, a}                    ->
                                       <-    result {id, r, +blob}     |  error {id, e, msg}
    call {id, m: "updates"}            ->
                                       <-    update {id, r: [rows], resync?} ...  end {id}
    cancel {id}                        ->    (stops a subscription or a running call)
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import msgspec

from console.fleetview import (
    AccessDenied,
    FleetSnapshot,
    MailMessage,
    MailRow,
    ServerDetail,
    ServerRow,
    SourceInfo,
)
from console.monitor.maintenance import MaintenanceError, MaintenanceWindow
from console.store.database import ReadOnlyError, StoreError, StoreLockedError

VERSION = 1
MAX_HEADER = 64 * 1024 * 1024
MAX_BLOB = 1024 * 1024 * 1024
_PREFIX = struct.Struct(">II")


class ProtocolError(ConnectionError):
    """The peer sent something that is not a frame of this protocol."""


class DaemonUnavailable(ConnectionError):
    """The daemon is not there (any more); the operator may retry or run without it."""


class RemoteError(RuntimeError):
    """An unexpected failure inside the daemon; the daemon's log has the details."""


class Header(msgspec.Struct, omit_defaults=True):
    t: str
    id: int = 0
    m: str = ""
    a: dict[str, msgspec.Raw] = {}
    r: msgspec.Raw = msgspec.Raw()
    e: str = ""
    msg: str = ""
    resync: bool = False


@dataclass(frozen=True, slots=True)
class Method:
    """Argument types (in order) and the result type of one FleetSource call."""

    args: tuple[tuple[str, Any], ...]
    result: Any


METHODS: dict[str, Method] = {
    "info": Method((), SourceInfo),
    "snapshot": Method((), FleetSnapshot),
    "server_detail": Method((("server_id", str),), ServerDetail),
    "history": Method(
        (("server_id", str), ("check", str), ("since", datetime)),
        list[tuple[datetime, float | None]],
    ),
    "sql": Method((("query", str),), None),
    "check_now": Method((("server_ids", list[str] | None),), int),
    "maintenance_list": Method((), list[MaintenanceWindow]),
    "maintenance_add": Method((("window", MaintenanceWindow),), MaintenanceWindow),
    "maintenance_remove": Method((("window_id", int),), None),
    "outbox": Method((("limit", int),), list[MailRow]),
    "mail": Method((("key", str),), MailMessage),
}
SUBSCRIBE = "updates"
ROWS = tuple[ServerRow, ...]

# Most specific first: the first isinstance match names the error on the wire.
ERRORS: tuple[tuple[str, type[BaseException]], ...] = (
    ("AccessDenied", AccessDenied),
    ("StoreLockedError", StoreLockedError),
    ("ReadOnlyError", ReadOnlyError),
    ("StoreError", StoreError),
    ("MaintenanceError", MaintenanceError),
    ("KeyError", KeyError),
    ("ValueError", ValueError),
)
_BY_NAME = dict(ERRORS)

_encoder = msgspec.json.Encoder()
_header_decoder = msgspec.json.Decoder(Header)


@cache
def decoder(kind: Any) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(kind)


def raw(value: Any) -> msgspec.Raw:
    return msgspec.Raw(_encoder.encode(value))


def decode(data: msgspec.Raw | None, kind: Any) -> Any:
    if data is None or not len(data):
        return None
    return decoder(kind).decode(data)


def frame(header: Header, blob: bytes = b"") -> bytes:
    body = _encoder.encode(header)
    return _PREFIX.pack(len(body), len(blob)) + body + blob


def error_frame(request: int, exc: BaseException) -> bytes:
    name, message = describe(exc)
    return frame(Header(t="error", id=request, e=name, msg=message))


def describe(exc: BaseException) -> tuple[str, str]:
    """(wire name, message) of an exception; KeyError keeps its bare argument as the message."""
    for name, kind in ERRORS:
        if isinstance(exc, kind):
            if isinstance(exc, KeyError) and exc.args:
                return name, str(exc.args[0])
            return name, str(exc)
    return "RemoteError", f"{type(exc).__name__}: {exc}"


def rebuild(name: str, message: str) -> BaseException:
    """The exception the caller would have seen had the source been embedded."""
    return _BY_NAME.get(name, RemoteError)(message)


async def read_frame(reader: asyncio.StreamReader) -> tuple[Header, bytes] | None:
    """The next frame, or None at a clean end of stream."""
    try:
        prefix = await reader.readexactly(_PREFIX.size)
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise ProtocolError("connection closed inside a frame") from None
        return None
    size, blob_size = _PREFIX.unpack(prefix)
    if size > MAX_HEADER or blob_size > MAX_BLOB:
        raise ProtocolError(f"frame too large ({size} + {blob_size} bytes)")
    try:
        body = await reader.readexactly(size + blob_size)
    except asyncio.IncompleteReadError:
        raise ProtocolError("connection closed inside a frame") from None
    try:
        header = _header_decoder.decode(body[:size])
    except msgspec.DecodeError as exc:
        raise ProtocolError(f"bad frame header: {exc}") from None
    return header, body[size:]


def encode_args(method: str, values: Sequence[Any]) -> dict[str, msgspec.Raw]:
    spec = METHODS[method]
    return {name: raw(v) for (name, _), v in zip(spec.args, values, strict=True)}


def decode_args(method: str, args: dict[str, msgspec.Raw]) -> list[Any]:
    """Typed arguments in call order; a missing one is a ValueError, like a bad one."""
    spec = METHODS[method]
    values = []
    for name, kind in spec.args:
        if name not in args:
            raise ValueError(f"{method}: missing argument {name!r}")
        values.append(decode(args[name], kind))
    return values
