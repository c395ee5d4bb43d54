"""The daemon's socket protocol: frames, the method table and the error mapping.

A frame is `u32 header length | u32 blob length | header | blob` (big-endian). The header is a
JSON object, so a frame can be read by eye with `socat`; the blob carries bytes that JSON would
bloat, today only Arrow IPC streams of SQL results. Both sides import this module, which must
stay free of the engine, the store and Textual.

Header keys: `t` type, `id` request id (chosen by the client, echoed by the daemon), `m` method,
`a` arguments, `r` result, `e`/`msg` error type and text, `resync` on a full-state update.

    client                                   daemon
    hello {a: {v, installer}}          ->          (who the client is comes from the kernel)
                                       <-    welcome {r: {v, version, user, role, installer}}
                                             | error
    call {id, m, a}                    ->
                                       <-    result {id, r, +blob}     |  error {id, e, msg}
    call {id, m: "sql", a: {query}}    ->
                                       <-    chunk {id, +arrow} ...  result {id, r: {cut}, +schema}
    call {id, m: "updates"}            ->
                                       <-    update {id, r: [rows], resync?} ...  end {id}
    cancel {id}                        ->    (stops a subscription or a running call)

Requests are small: a frame to the daemon larger than `MAX_REQUEST`, or carrying a blob, is
refused from its length prefix, before any of it is read. Every argument is checked against the
method's types and bounds before it reaches the engine.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import struct
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Annotated, Any

import msgspec

from console.desk.records import IncidentQuery
from console.errors import BadRequest, NlsError
from console.errors import DaemonUnavailable as DaemonUnavailable
from console.errors import RemoteError as RemoteError
from console.fleetview import IMPORT_CHUNK_ROWS, FleetSource, ImportedSample, ServerRow

VERSION = 2
MAX_HEADER = 64 * 1024 * 1024
MAX_BLOB = 1024 * 1024 * 1024
MAX_REQUEST = 1024 * 1024
_PREFIX = struct.Struct(">II")


class ProtocolError(ConnectionError):
    """The peer sent something that is not a frame of this protocol."""


class FrameTooLarge(ProtocolError):
    """A frame's length prefix exceeds what this side accepts; nothing of it was read."""


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


ServerId = Annotated[str, msgspec.Meta(max_length=128)]
ScopeId = Annotated[str, msgspec.Meta(max_length=128)]
CheckName = Annotated[str, msgspec.Meta(max_length=64)]
Since = Annotated[datetime, msgspec.Meta(tz=True)]
Query = Annotated[str, msgspec.Meta(max_length=100_000)]
ServerIds = Annotated[list[ServerId], msgspec.Meta(max_length=100_000)]
WindowId = Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]
Limit = Annotated[int, msgspec.Meta(ge=1, le=10_000)]
Reason = Annotated[str, msgspec.Meta(max_length=2_000)]
FailureRef = Annotated[str, msgspec.Meta(max_length=200)]
Samples = Annotated[list[ImportedSample], msgspec.Meta(max_length=IMPORT_CHUNK_ROWS)]
IncidentId = Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]
Word = Annotated[str, msgspec.Meta(max_length=64)]  # a priority, an incident type, an event kind
Title = Annotated[str, msgspec.Meta(max_length=1_000)]
Text = Annotated[str, msgspec.Meta(max_length=100_000)]
Month = Annotated[str, msgspec.Meta(max_length=32)]  # "YYYY-MM"; the source names a bad one
MailKey = Annotated[str, msgspec.Meta(max_length=256)]

BOUNDS: dict[str, Any] = {
    "server_id": ServerId,
    "scope_id": ScopeId,
    "check": CheckName,
    "since": Since,
    "query": Query,
    "server_ids": ServerIds | None,
    "window_id": WindowId,
    "limit": Limit,
    # issue 12: reports, exclusions, claims, history import
    "month": Month,
    "installer_id": ScopeId | None,
    "customer_id": ScopeId | None,
    "include_revoked": bool,
    "starts": Since,
    "ends": Since,
    "reason": Reason,
    "exclusion_id": WindowId,
    "failure": FailureRef,
    "claimed_at": Since | None,
    "samples": Samples,
    "commit": bool,
    "customer": ScopeId,
    "priority": Word,
    "server": ServerId | None,
    "incident_type": Word,
    "title": Title,
    "at": Since | None,
    "incident_id": IncidentId,
    "kind": Word,
    "text": Text,
    "now": Since | None,
    "where": IncidentQuery | None,
    "key": MailKey,
}
"""The wire type of every plain argument, by name: what the daemon accepts before the engine
sees it. The protocol's annotations say what an argument is; these say how big it may be (an
empty id or query is the source's to refuse, with the same words as an embedded one)."""
SUBSCRIBE = "updates"
LOCAL = frozenset({SUBSCRIBE, "close"})
"""FleetSource members that are not plain calls: the subscription, and closing the client."""
ROWS = tuple[ServerRow, ...]
ARROW_RESULTS = frozenset({"report"})
"""Calls whose result (a pyarrow.Table) travels as an Arrow IPC stream in the blob."""


def method_table() -> dict[str, Method]:
    """Every plain call of `FleetSource`, typed from the protocol's own annotations: a method
    added to the protocol is on the wire without another table to keep in step. (`sql`'s
    result travels as Arrow IPC in the blob, whatever its annotation says.)"""
    table: dict[str, Method] = {}
    for name, fn in vars(FleetSource).items():
        if name.startswith("_") or name in LOCAL or not inspect.iscoroutinefunction(fn):
            continue
        hints = typing.get_type_hints(fn)
        params = [p.name for p in inspect.signature(fn).parameters.values()][1:]
        table[name] = Method(
            tuple((p, _bounded(name, p, hints[p])) for p in params), hints["return"]
        )
    return table


def _bounded(method: str, name: str, hint: Any) -> Any:
    """The argument's type on the wire: its entry in BOUNDS, or the protocol's own type when
    that is a structure (a dataclass the decoder checks field by field) or a Literal."""
    if name in BOUNDS:
        return BOUNDS[name]
    if dataclasses.is_dataclass(hint) or typing.get_origin(hint) is typing.Literal:
        return hint
    raise TypeError(
        f"FleetSource.{method}: argument {name!r} ({hint}) has no bounds; add them to "
        "console.daemon.wire.BOUNDS"
    )


METHODS: dict[str, Method] = method_table()

# Every NlsError travels by its class name (see NlsError.by_name); these builtins too, most
# specific first. Anything else is a RemoteError: a failure inside the daemon.
ERRORS: tuple[tuple[str, type[BaseException]], ...] = (
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


def frame_head(header: Header, blob_size: int) -> bytes:
    """A frame without its blob, for writing a large blob after it without copying it."""
    body = _encoder.encode(header)
    return _PREFIX.pack(len(body), blob_size) + body


def error_frame(request: int, exc: BaseException) -> bytes:
    name, message = describe(exc)
    return frame(Header(t="error", id=request, e=name, msg=message))


def describe(exc: BaseException) -> tuple[str, str]:
    """(wire name, message) of an exception; KeyError keeps its bare argument as the message.

    An NlsError travels as its nearest class in console.errors, which every client imports (a
    subclass defined beside the engine, e.g. the SLA's, would be unknown to a thin client)."""
    if isinstance(exc, NlsError):
        kind = next(k for k in type(exc).__mro__ if k.__module__ == NlsError.__module__)
        return kind.__name__, str(exc)
    for name, kind in ERRORS:
        if isinstance(exc, kind):
            if isinstance(exc, KeyError) and exc.args:
                return name, str(exc.args[0])
            return name, str(exc)
    return "RemoteError", f"{type(exc).__name__}: {exc}"


def rebuild(name: str, message: str) -> BaseException:
    """The exception the caller would have seen had the source been embedded."""
    kind = NlsError.by_name.get(name) or _BY_NAME.get(name) or RemoteError
    return kind(message)


async def read_frame(
    reader: asyncio.StreamReader, *, max_header: int = MAX_HEADER, max_blob: int = MAX_BLOB
) -> tuple[Header, bytes] | None:
    """The next frame, or None at a clean end of stream; FrameTooLarge before reading a frame
    whose prefix exceeds the limits."""
    try:
        prefix = await reader.readexactly(_PREFIX.size)
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise ProtocolError("connection closed inside a frame") from None
        return None
    size, blob_size = _PREFIX.unpack(prefix)
    if size > max_header or blob_size > max_blob:
        raise FrameTooLarge(
            f"frame too large ({size} + {blob_size} bytes; the limit is {max_header} + {max_blob})"
        )
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
    """Typed, bounded arguments in call order; a missing, unknown or bad one is a BadRequest
    naming the method and argument."""
    spec = METHODS[method]
    unknown = set(args) - {name for name, _ in spec.args}
    if unknown:
        raise BadRequest(f"{method}: unknown argument {sorted(unknown)[0]!r}")
    values = []
    for name, kind in spec.args:
        if name not in args:
            raise BadRequest(f"{method}: missing argument {name!r}")
        try:
            values.append(decode(args[name], kind))
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise BadRequest(f"{method}: argument {name!r}: {exc}") from None
    return values
