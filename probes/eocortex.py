"""Eocortex status probe: three read-only calls as the restricted `nls` user.

The password's MD5 travels in the query string, so it is a credential: error texts are
built from our own words (never from httpx messages, which quote the URL) and the
httpx logger is filtered.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import hashlib
import json
import logging
import multiprocessing
import re
import socket
import ssl
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar
from urllib.parse import urlencode

import httpx
import msgspec

from probes.http11 import Http11Session, HttpFailure, is_local_error

ALLOWED_REQUESTS = frozenset(
    {"/configex", "/command?type=gettime", "/command?type=getchannelsstates"}
)
MAX_BODY = 16 * 1024 * 1024
MAX_CANDIDATES = 16
OFFLOAD_BYTES = 256 * 1024
"""Bodies larger than this are parsed in a separate process: a hostile 16 MB answer full of
document starts took over a second of CPU, which on the probing loop delayed every other probe."""

ErrorKind = Literal["refused", "timeout", "http", "auth", "garbage", "local"]
"""`local`: the monitor itself could not run the probe (no free file descriptor, no ephemeral
port): says nothing about the server."""
T = TypeVar("T")


class ParseError(ValueError):
    """The body is not a readable answer of the expected kind; the message is a short reason."""


@dataclass(frozen=True, slots=True)
class CameraStatus:
    id: str
    name: str
    online: bool
    stream_state: str
    recording: bool
    archiving_enabled: bool
    allowed_realtime: bool
    allowed_archive: bool


@dataclass(slots=True)
class EocortexResult:
    ok: bool = False
    error: str | None = None
    error_kind: ErrorKind | None = None
    latency_ms: float | None = None
    server_time: str | None = None
    version: str | None = None
    server_name: str | None = None
    cameras: list[CameraStatus] = field(default_factory=list)
    rights_findings: list[str] = field(default_factory=list)
    rights: list[tuple[str, str]] = field(default_factory=list)
    """`rights_findings` as (kind, name): kind is group, live or archive."""


@dataclass(frozen=True, slots=True)
class ChannelConfig:
    id: str
    name: str
    disabled: bool
    archiving_enabled: bool
    allowed_realtime: bool
    allowed_archive: bool
    server_id: str | None = None


@dataclass(frozen=True, slots=True)
class Configex:
    server_name: str | None
    version: str | None
    sender_id: str | None
    channels: tuple[ChannelConfig, ...]
    user_group: dict[str, bool]


@dataclass(frozen=True, slots=True)
class ChannelState:
    id: str
    recording: bool
    main_state: str


def password_hash(password: str) -> str:
    return hashlib.md5(password.encode()).hexdigest()


def client_limits(concurrency: int) -> httpx.Limits:
    """Pool limits for a client shared by `concurrency` parallel probes.

    Each probe holds up to two connections. Keep the idle pool small: httpcore scans
    every pooled connection per idle connection on each request, so a 600-connection
    keep-alive pool made a 1,000-server cycle take a minute instead of seconds.
    """
    return httpx.Limits(
        max_connections=2 * concurrency,
        max_keepalive_connections=min(20, concurrency),
        keepalive_expiry=5.0,
    )


# ---------------------------------------------------------------- parsing

_TIME_RE = re.compile(
    r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}[ T]\d{1,2}:\d{2}(:\d{2}([.,]\d+)?)?"
    r"( ?[AaPp][Mm])?(Z|[+-]\d{2}:?\d{2})?"
)
_STARTS = re.compile(r"[<{\[\"]")


def _candidates(body: bytes) -> Iterator[tuple[str, Any]]:
    """Yield ('xml', Element), ('json', value) or ('bad', reason) per plausible document start.

    Real servers prefix a BOM or text, so every '<', '{', '[' or '"' is a possible start;
    the caller keeps the first one whose shape it accepts.
    """
    text = body.decode("utf-8", errors="replace").replace("\ufeff", "")
    has_dtd = "<!DOCTYPE" in text or "<!ENTITY" in text
    tried = 0
    # Each attempt may parse to the end of the body: bound the total, so a hostile body of
    # many unclosed document starts costs about two parses of itself, not sixteen.
    budget = max(2 * len(text), 1 << 20)
    for match in _STARTS.finditer(text):
        if tried >= MAX_CANDIDATES:
            return
        pos = match.start()
        budget -= len(text) - pos
        if budget < 0 and tried:
            yield "bad", "too many malformed document starts"
            return
        if text[pos] == "<":
            if text.startswith(("<!", "</"), pos):
                continue
            tried += 1
            if has_dtd:
                yield "bad", "XML with a DTD or entities refused"
                return
            try:
                yield "xml", ET.fromstring(text[pos:])
            except ET.ParseError as exc:
                yield "bad", f"malformed XML: {str(exc)[:80]}"
            except (ValueError, RecursionError):
                yield "bad", "malformed XML"
        else:
            tried += 1
            try:
                value, _ = json.JSONDecoder().raw_decode(text, pos)
            except RecursionError:
                yield "bad", "malformed JSON: nested too deep"
            except ValueError as exc:
                yield "bad", f"malformed JSON: {str(exc)[:80]}"
            else:
                yield "json", value


_JSON = msgspec.json.Decoder()


def _whole_json(body: bytes) -> tuple[bool, Any]:
    """The usual answer is exactly one JSON document: decode it in one C call (msgspec), and
    only fall back to the candidate scan for prefixed, suffixed or broken bodies."""
    head = body[:1].lstrip() or body.lstrip()[:1]
    if head not in (b"{", b"[", b'"'):
        return False, None
    try:
        return True, _JSON.decode(body)
    except (msgspec.DecodeError, RecursionError, ValueError):
        return False, None


def _parse(body: bytes, what: str, interpret: Callable[[str, Any], T]) -> T:
    if not isinstance(body, bytes | bytearray):
        raise ParseError("body is not bytes")
    whole, doc = _whole_json(bytes(body))
    if whole:
        try:
            return interpret("json", doc)
        except (ParseError, ValueError, TypeError, AttributeError, KeyError, RecursionError):
            pass  # the scan below gives the same verdict with its reason
    reason: str | None = None
    for kind, value in _candidates(bytes(body)):
        if kind == "bad":
            reason = reason or value
            continue
        try:
            return interpret(kind, value)
        except ParseError as exc:
            reason = reason or str(exc)
        except (ValueError, TypeError, AttributeError, KeyError, RecursionError):
            reason = reason or f"malformed {what}"
    if reason:
        raise ParseError(reason)
    if not body.strip():
        raise ParseError("empty answer")
    raise ParseError("neither XML nor JSON")


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _child(el: ET.Element, name: str) -> ET.Element | None:
    for sub in el:
        if _local(sub.tag) == name:
            return sub
    return None


def _xfield(el: ET.Element, name: str) -> str | None:
    """XML value by name: attribute (configex style) or child element (states style)."""
    if name in el.attrib:
        return el.attrib[name]
    sub = _child(el, name)
    return None if sub is None else (sub.text or "").strip()


def _as_bool(value: Any, name: str, default: bool = False) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")
    raise ParseError(f"{name} is not true/false")


def _as_text(value: Any, name: str, *, required: bool = False) -> str | None:
    if value is None or value == "":
        if required:
            raise ParseError(f"{name} missing")
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ParseError(f"{name} is not text")


def parse_time(body: bytes) -> str:
    """gettime: XML <string>22.09.2018 3:33:06</string> or the JSON string."""

    def interpret(kind: str, value: Any) -> str:
        if kind == "xml":
            if _local(value.tag) != "string":
                raise ParseError("XML answer is not a <string>")
            value = (value.text or "").strip()
        if not isinstance(value, str) or not _TIME_RE.fullmatch(value.strip()):
            raise ParseError("no date and time in the answer")
        return value.strip()

    return _parse(body, "time", interpret)


def parse_configex(body: bytes) -> Configex:
    """configex in XML (attributes) or JSON (RevNum/XmlProtocolVersion naming)."""

    def interpret(kind: str, value: Any) -> Configex:
        return _configex_xml(value) if kind == "xml" else _configex_json(value)

    return _parse(body, "configex", interpret)


def _configex_json(doc: Any) -> Configex:
    if not isinstance(doc, dict) or not ({"Channels", "ServerVersion", "Servers"} & doc.keys()):
        raise ParseError("JSON is not a configex document")
    servers = [_server_json(s) for s in _json_list(doc.get("Servers"), "Servers")]
    channels = []
    for ch in _json_list(doc.get("Channels"), "Channels"):
        if not isinstance(ch, dict):
            raise ParseError("channel entry is not an object")
        channels.append(_channel(ch.get))
    group = doc.get("UserGroup") or {}
    if not isinstance(group, dict):
        raise ParseError("UserGroup is not an object")
    flags = {k: _as_bool(v, k) for k, v in group.items() if k.startswith("Can")}
    return _configex(doc.get, servers, channels, flags)


def _configex_xml(root: ET.Element) -> Configex:
    if _local(root.tag) != "Configuration":
        raise ParseError(f"XML root <{_local(root.tag)[:40]}> is not <Configuration>")
    servers_el = _child(root, "Servers")
    servers = [
        (el.get("Id"), el.get("Name"))
        for el in (servers_el if servers_el is not None else [])
        if _local(el.tag) == "ServerInfo"
    ]
    channels_el = _child(root, "Channels")
    channels = [
        _channel(functools.partial(_xfield, el))
        for el in (channels_el if channels_el is not None else [])
        if _local(el.tag) == "ChannelInfo"
    ]
    group_el = _child(root, "UserGroup")
    flags: dict[str, bool] = {}
    if group_el is not None:
        names = set(group_el.attrib) | {_local(sub.tag) for sub in group_el}
        flags = {n: _as_bool(_xfield(group_el, n), n) for n in names if n.startswith("Can")}
    return _configex(root.get, servers, channels, flags)


def _json_list(value: Any, name: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ParseError(f"{name} is not a list")
    return value


def _server_json(entry: Any) -> tuple[Any, Any]:
    if not isinstance(entry, dict):
        raise ParseError("server entry is not an object")
    return entry.get("Id"), entry.get("Name")


def _channel(get: Callable[[str], Any]) -> ChannelConfig:
    channel_id = _as_text(get("Id"), "channel Id", required=True)
    assert channel_id is not None
    return ChannelConfig(
        id=channel_id,
        name=_as_text(get("Name"), "channel Name") or channel_id,
        disabled=_as_bool(get("IsDisabled"), "IsDisabled"),
        archiving_enabled=_as_bool(get("IsArchivingEnabled"), "IsArchivingEnabled", True),
        allowed_realtime=_as_bool(get("AllowedRealtime"), "AllowedRealtime"),
        allowed_archive=_as_bool(get("AllowedArchive"), "AllowedArchive"),
        server_id=_as_text(get("AttachedToServer"), "AttachedToServer"),
    )


def _configex(
    get: Callable[[str], Any],
    servers: list[tuple[Any, Any]],
    channels: list[ChannelConfig],
    flags: dict[str, bool],
) -> Configex:
    """Pick this server (SenderId) out of a possibly multi-server configuration."""
    sender = _as_text(get("SenderId"), "SenderId")
    version = _as_text(get("ServerVersion"), "ServerVersion")
    name = None
    for server_id, server_name in servers:
        if sender is not None and str(server_id).lower() == sender.lower():
            name = _as_text(server_name, "server Name")
            break
    else:
        if servers:
            name = _as_text(servers[0][1], "server Name")
    if sender is not None:
        own = [c for c in channels if (c.server_id or "").lower() == sender.lower()]
        if own:
            channels = own
    return Configex(name, version, sender, tuple(channels), flags)


def parse_channel_states(body: bytes) -> list[ChannelState]:
    """getchannelsstates: the MainVideo stream state and IsRecordingOn of each channel."""

    def interpret(kind: str, value: Any) -> list[ChannelState]:
        return _states_xml(value) if kind == "xml" else _states_json(value)

    return _parse(body, "channel states", interpret)


def _states_json(doc: Any) -> list[ChannelState]:
    if isinstance(doc, dict):
        lists = [v for v in doc.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise ParseError("JSON is not a list of channel states")
        doc = lists[0]
    if not isinstance(doc, list):
        raise ParseError("JSON is not a list of channel states")
    out = []
    for entry in doc:
        if not isinstance(entry, dict):
            raise ParseError("channel state is not an object")
        streams = entry.get("StreamsStates")
        main = "Unknown"
        if isinstance(streams, dict):
            main = _as_text(streams.get("MainVideo"), "MainVideo state") or "Unknown"
        else:
            for stream in _json_list(streams, "StreamsStates"):
                if not isinstance(stream, dict):
                    raise ParseError("stream state is not an object")
                if stream.get("Type") == "MainVideo":
                    main = _as_text(stream.get("State"), "stream State") or "Unknown"
        out.append(_state(entry.get("Id"), entry.get("IsRecordingOn"), main))
    return out


def _states_xml(root: ET.Element) -> list[ChannelState]:
    if _local(root.tag) != "ArrayOfChannelState":
        raise ParseError(f"XML root <{_local(root.tag)[:40]}> is not <ArrayOfChannelState>")
    out = []
    for el in root:
        if _local(el.tag) != "ChannelState":
            continue
        main = "Unknown"
        streams = _child(el, "StreamsStates")
        for stream in streams if streams is not None else []:
            if _xfield(stream, "Type") == "MainVideo":
                main = _xfield(stream, "State") or "Unknown"
        out.append(_state(_xfield(el, "Id"), _xfield(el, "IsRecordingOn"), main))
    return out


def _state(channel_id: Any, recording: Any, main: str) -> ChannelState:
    text_id = _as_text(channel_id, "channel state Id", required=True)
    assert text_id is not None
    return ChannelState(text_id, _as_bool(recording, "IsRecordingOn"), main)


# ---------------------------------------------------------------- probing


class _Failure(Exception):
    def __init__(self, kind: ErrorKind, text: str):
        super().__init__(text)
        self.kind = kind
        self.text = text


_CONNECT_REASONS = {
    errno.ECONNREFUSED: "connection refused",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
    errno.ECONNRESET: "connection reset",
}


def _connect_reason(exc: BaseException) -> str:
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            break
        if isinstance(seen, socket.gaierror):
            return "cannot resolve the server's host name"
        if isinstance(seen, OSError) and seen.errno in _CONNECT_REASONS:
            return _CONNECT_REASONS[seen.errno]
        if isinstance(seen, OSError) and seen.strerror:
            return f"cannot connect: {seen.strerror}"
        seen = seen.__cause__ or seen.__context__
    text = str(exc)
    return "connection refused" if "refused" in text.lower() else "cannot connect"


_STALE = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


class _Session:
    """The probe's three GETs: over the lean HTTP/1.1 client (one connection for the probe,
    closed after it) or, when the caller passes one, an httpx client."""

    def __init__(
        self,
        client: httpx.AsyncClient | None,
        base_url: str,
        login: str,
        secret: str,
        timeout: float,
        responsetype: str,
        tls: ssl.SSLContext | None = None,
    ):
        self.client = client
        self.base = base_url.rstrip("/")
        self.login = login
        self.secret = secret
        self.timeout = float(timeout)
        self.json = responsetype.lower() == "json"
        auth: dict[str, str] = {"login": login, "password": secret}
        if self.json:
            auth["responsetype"] = "json"
        self._auth = auth
        self._query = urlencode(auth)
        self.lean = Http11Session(self.base, tls=tls) if client is None else None

    def close(self) -> None:
        if self.lean is not None:
            self.lean.close()

    async def get(self, path: str, command: str | None = None) -> bytes:
        label = path + (f"?type={command}" if command else "")
        late = f"no answer within {self.timeout} s"
        if command != "gettime":
            late += f" to {label}"
        try:
            async with asyncio.timeout(self.timeout):
                if self.lean is not None:
                    return await self._fetch_lean(path, command, label)
                params = {"type": command} if command else {}
                params |= self._auth
                try:
                    return await self._fetch(path, params, label)
                except _STALE:
                    # a kept-alive connection the server dropped between cycles: once more
                    return await self._fetch(path, params, label)
        except _Failure:
            raise
        except (TimeoutError, httpx.TimeoutException):
            raise _Failure("timeout", late) from None
        except httpx.ConnectError as exc:
            if is_local_error(exc):
                raise _Failure("local", _connect_reason(exc)) from None
            raise _Failure("refused", _connect_reason(exc)) from None
        except _STALE:
            raise _Failure("http", f"connection closed before a full answer to {label}") from None
        except httpx.HTTPError as exc:
            raise _Failure("http", f"{type(exc).__name__} on {label}") from None
        except OSError as exc:
            kind: ErrorKind = "local" if is_local_error(exc) else "refused"
            raise _Failure(kind, _connect_reason(exc)) from None

    async def _fetch_lean(self, path: str, command: str | None, label: str) -> bytes:
        assert self.lean is not None
        query = (f"type={command}&" if command else "") + self._query
        try:
            status, body = await self.lean.get(f"{path}?{query}", max_body=MAX_BODY)
        except HttpFailure as exc:
            if exc.kind == "local":
                raise _Failure("local", exc.text) from None
            if exc.kind == "connect":
                raise _Failure("refused", exc.text) from None
            if exc.kind == "too_large":
                raise _Failure("garbage", f"answer from {label} is larger than 16 MB") from None
            if exc.kind == "closed":
                raise _Failure(
                    "http", f"connection closed before a full answer to {label}"
                ) from None
            raise _Failure("http", f"{exc.text} on {label}") from None
        if status in (401, 403):
            raise _Failure("auth", self._auth_text(status, label))
        if status != 200:
            raise _Failure("http", f"HTTP {status} from {label}")
        return body

    async def _fetch(self, path: str, params: dict[str, str], label: str) -> bytes:
        assert self.client is not None
        async with self.client.stream(
            "GET", self.base + path, params=params, timeout=self.timeout
        ) as response:
            status = response.status_code
            if status in (401, 403):
                raise _Failure("auth", self._auth_text(status, label))
            if status != 200:
                raise _Failure("http", f"HTTP {status} from {label}")
            return await self._read(response, label)

    def _auth_text(self, status: int, label: str) -> str:
        if status == 401:
            return f"login rejected (HTTP 401): check the {self.login} user's password"
        return f"access denied (HTTP 403) to {label}: check the {self.login} user's group"

    @staticmethod
    async def _read(response: httpx.Response, label: str) -> bytes:
        chunks = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > MAX_BODY:
                raise _Failure("garbage", f"answer from {label} is larger than 16 MB")
            chunks.append(chunk)
        return b"".join(chunks)


_pool: ProcessPoolExecutor | None = None


def _parser_pool() -> ProcessPoolExecutor:
    """One spawned worker process for large bodies (never a fork of a process holding thousands
    of sockets); started on first use."""
    global _pool
    if _pool is None:
        _pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    return _pool


def shutdown_parser_pool() -> None:
    """Stop the large-body parser process, if one was started (the engine calls this at close)."""
    global _pool
    pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)


async def parse_off_loop(parser: Callable[[bytes], T], body: bytes) -> T:
    """`parser(body)` inline for a usual answer, in the parser process for a large one, so a
    hostile body never holds the loop that probes every other server."""
    if len(body) < OFFLOAD_BYTES:
        return parser(body)
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(_parser_pool(), parser, body)
    except BrokenProcessPool:
        shutdown_parser_pool()
        raise ParseError("the answer made the parser process fail") from None


async def _read_as(parser: Callable[[bytes], T], body: bytes, label: str) -> T:
    try:
        return await parse_off_loop(parser, body)
    except ParseError as exc:
        raise _Failure("garbage", f"unreadable answer from {label}: {exc}") from None
    except Exception as exc:
        raise _Failure("garbage", f"unreadable answer from {label}: {type(exc).__name__}") from None


def _fail(result: EocortexResult, failure: _Failure) -> None:
    if result.error is None:
        result.error, result.error_kind = failure.text, failure.kind


def _join(config: Configex, states: list[ChannelState]) -> list[CameraStatus]:
    by_id = {s.id.lower(): s for s in states}
    cameras = []
    for ch in config.channels:
        if ch.disabled:
            continue
        state = by_id.get(ch.id.lower())
        stream_state = state.main_state if state else "Unknown"
        cameras.append(
            CameraStatus(
                id=ch.id,
                name=ch.name,
                online=stream_state == "Active",
                stream_state=stream_state,
                recording=bool(state and state.recording),
                archiving_enabled=ch.archiving_enabled,
                allowed_realtime=ch.allowed_realtime,
                allowed_archive=ch.allowed_archive,
            )
        )
    return cameras


RightsKind = Literal["group", "live", "archive"]


def rights_grants(config: Configex) -> list[tuple[RightsKind, str]]:
    """Anything that would let `nls` see video, as (kind, name): a UserGroup flag, or a camera
    that allows live view or archive playback. It must have no rights at all."""
    found: list[tuple[RightsKind, str]] = [
        ("group", flag) for flag, on in sorted(config.user_group.items()) if on
    ]
    for ch in config.channels:
        if ch.allowed_realtime:
            found.append(("live", ch.name))
        if ch.allowed_archive:
            found.append(("archive", ch.name))
    return found


def rights_findings(config: Configex) -> list[str]:
    """`rights_grants` in words, for logs and ops."""
    words = {
        "group": "UserGroup grants {}",
        "live": "camera {!r} allows live view",
        "archive": "camera {!r} allows archive playback",
    }
    return [words[kind].format(name) for kind, name in rights_grants(config)]


async def _settle(
    result: EocortexResult,
    body: bytes | BaseException,
    parser: Callable[[bytes], T],
    label: str,
) -> T | None:
    """One answer of a pair: parsed, or None with its failure recorded on `result`."""
    try:
        if isinstance(body, BaseException):
            raise body
        return await _read_as(parser, body, label)
    except _Failure as failure:
        _fail(result, failure)
        return None


async def _run(session: _Session, result: EocortexResult) -> None:
    started = time.perf_counter()
    body = await session.get("/command", "gettime")
    result.latency_ms = (time.perf_counter() - started) * 1000
    result.server_time = await _read_as(parse_time, body, "/command?type=gettime")

    if session.lean is not None:
        # one connection, one request at a time: the second waits for the first to finish
        config_body = await _answer(session.get("/configex"))
        states_body = await _answer(session.get("/command", "getchannelsstates"))
    else:
        config_body, states_body = await asyncio.gather(
            session.get("/configex"),
            session.get("/command", "getchannelsstates"),
            return_exceptions=True,
        )
    config = await _settle(result, config_body, parse_configex, "/configex")
    if config is not None:
        result.version, result.server_name = config.version, config.server_name
        result.rights_findings = rights_findings(config)
        result.rights = list(rights_grants(config))
    states = await _settle(
        result, states_body, parse_channel_states, "/command?type=getchannelsstates"
    )
    if config is not None and states is not None:
        result.cameras = _join(config, states)
        result.ok = True


async def _answer(request: Any) -> bytes | BaseException:
    """A request's body, or the failure it raised (as gather(return_exceptions=True) gives)."""
    try:
        return await request
    except _Failure as failure:
        return failure


def _scrub(text: str | None, secret: str) -> str | None:
    if text is None:
        return None
    text = re.sub(re.escape(secret), "***", text, flags=re.IGNORECASE)
    return re.sub(r"(password=)[^&\s]*", r"\1***", text)


async def probe_eocortex(
    client: httpx.AsyncClient | None,
    base_url: str,
    login: str,
    password: str,
    *,
    request_timeout: float = 5.0,
    server_timeout: float = 20.0,
    responsetype: str = "json",
    tls: ssl.SSLContext | None = None,
) -> EocortexResult:
    """gettime, then configex and getchannelsstates; never raises.

    `client` None: the lean HTTP/1.1 client, one connection for the three requests, closed at
    the end (what the engine uses). With an httpx client, configex and getchannelsstates go
    in parallel; time spent waiting for a pooled connection counts against request_timeout:
    size it with client_limits() and bound concurrency with a semaphore. Only CancelledError
    escapes, so a scheduler can still stop a cycle.
    """
    result = EocortexResult()
    secret = password_hash(password)
    session = _Session(client, base_url, login, secret, request_timeout, responsetype, tls)
    try:
        async with asyncio.timeout(server_timeout):
            await _run(session, result)
    except _Failure as failure:
        _fail(result, failure)
    except TimeoutError:
        _fail(result, _Failure("timeout", f"no complete answer within {float(server_timeout)} s"))
    except Exception as exc:
        _fail(result, _Failure("garbage", f"unexpected {type(exc).__name__} while probing"))
    finally:
        session.close()
    if result.error is not None:
        result.ok = False
    result.error = _scrub(result.error, secret)
    return result


class _RedactPasswords(logging.Filter):
    """httpx logs each request URL at INFO; the query holds the password hash."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        if "password=" in message:
            record.msg = re.sub(r"(password=)[^&\s\"']*", r"\1***", message)
            record.args = ()
        return True


def _install_log_filter() -> None:
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, _RedactPasswords) for f in logger.filters):
        logger.addFilter(_RedactPasswords())


_install_log_filter()
