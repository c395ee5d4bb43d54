"""HTTP for the simulator: a small keep-alive h11 server and the Eocortex API it serves.

A Protocol (not streams) keeps a thousand simulated servers cheap: no task per
connection, one synchronous handler call per request.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit
from xml.sax.saxutils import escape, quoteattr

import h11

if TYPE_CHECKING:
    from probes.simulator.fleet import Fleet, SimServer

MAX_REQUEST_BODY = 1 << 20
SERVER_VERSION = "4.1.23"
DEFAULT_GARBAGE = b"EOCORTEX-ERR 0x80004005 \xff\xfe\x00 service state unknown\r\n"
QUIRK_PREFIX = b"\xef\xbb\xbfEocortex [API] ready\r\n"
XML_DECL = '<?xml version="1.0" encoding="utf-8"?>'
XML_TYPE = "application/xml; charset=utf-8"
JSON_TYPE = "application/json; charset=utf-8"
USER_GROUP_FLAGS = (
    "CanConfigure",
    "CanConfigureWorkplace",
    "CanShutdown",
    "CanChangeChannelMode",
    "CanManageRec",
    "CanAccessExpertMode",
    "CanPTZ",
    "CanReceiveSound",
    "CanTransmitSound",
    "CanAccessNewCamera",
    "CanAccessReports",
    "CanAccessVideoViaWeb",
    "CanAccessVideoViaSmartTV",
    "CanExportVideoToAvi",
    "CanUseArchiveExport",
    "CanReceiveMainStream",
    "CanAccessUnifiedLog",
    "CanAccessArchiveMarks",
    "CanAccessSearch",
    "CanGetTranscodedVideoFromMobileServer",
    "CanRunUserScenarios",
)
GRANTED_WHEN_FAULTY = ("CanAccessVideoViaWeb", "CanReceiveMainStream", "CanUseArchiveExport")
REGISTERED_EVENTS = (
    ("427f1cc3-2c2f-4f50-8865-56ae29b8a77e", "Motion detected"),
    ("7f9a3b4e-1fd6-4c64-bf15-1a0c3f9a1d4e", "Camera connection lost"),
    ("0c3f9d4e-85a1-4a32-9d5b-6b2f7e0a9c11", "Archive recording stopped"),
)


@dataclass(slots=True)
class Request:
    method: str
    target: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass(slots=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"


Handler = Callable[[Request], Response | None]
"""Returns the response, or None to never answer (the connection hangs)."""


class H11Protocol(asyncio.Protocol):
    """One HTTP/1.1 connection: keep-alive, pipelining, bounded request bodies."""

    def __init__(self, handler: Handler, connections: set[asyncio.Transport] | None = None):
        self.handler = handler
        self.connections = connections
        self.conn = h11.Connection(h11.SERVER)
        self.transport: asyncio.Transport | None = None
        self.request: h11.Request | None = None
        self.body = bytearray()
        self.hung = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if self.connections is not None:
            self.connections.add(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.connections is not None and self.transport is not None:
            self.connections.discard(self.transport)

    def data_received(self, data: bytes) -> None:
        if self.hung:
            return
        self.conn.receive_data(data)
        self._drive()

    def eof_received(self) -> bool:
        if not self.hung:
            self.conn.receive_data(b"")
            self._drive()
        return False

    def _drive(self) -> None:
        assert self.transport is not None
        while not self.transport.is_closing():
            try:
                event = self.conn.next_event()
            except h11.RemoteProtocolError:
                self._fail(400)
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                self.request = event
                self.body.clear()
            elif isinstance(event, h11.Data):
                self.body += event.data
                if len(self.body) > MAX_REQUEST_BODY:
                    self._fail(413)
                    return
            elif isinstance(event, h11.EndOfMessage):
                if not self._respond():
                    return
            elif isinstance(event, h11.ConnectionClosed):
                self.transport.close()
                return

    def _respond(self) -> bool:
        assert self.request is not None and self.transport is not None
        try:
            response = self.handler(self._build_request(self.request))
        except Exception as exc:
            response = Response(500, f"simulator error: {type(exc).__name__}\n".encode())
        if response is None:
            self.hung = True
            return False
        self._send(response)
        if self.conn.our_state is h11.MUST_CLOSE:
            self.transport.close()
            return False
        self.conn.start_next_cycle()
        return True

    def _build_request(self, event: h11.Request) -> Request:
        target = event.target.decode("latin-1")
        parts = urlsplit(target)
        return Request(
            method=event.method.decode("latin-1"),
            target=target,
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers={k.decode("latin-1"): v.decode("latin-1") for k, v in event.headers},
            body=bytes(self.body),
        )

    def _send(self, response: Response) -> None:
        assert self.transport is not None
        headers = [
            ("content-type", response.content_type),
            ("content-length", str(len(response.body))),
            ("server", "nls-simulator"),
        ]
        try:
            reason = HTTPStatus(response.status).phrase
        except ValueError:
            reason = ""
        out = self.conn.send(
            h11.Response(status_code=response.status, headers=headers, reason=reason)
        )
        if response.body:
            out += self.conn.send(h11.Data(data=response.body))
        out += self.conn.send(h11.EndOfMessage())
        self.transport.write(out)

    def _fail(self, status: int) -> None:
        assert self.transport is not None
        if self.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            with contextlib.suppress(h11.LocalProtocolError):
                self._send(Response(status, HTTPStatus(status).phrase.encode()))
        self.transport.close()


class EocortexProtocol(H11Protocol):
    """A connection to one simulated server's Eocortex port."""

    def __init__(self, fleet: Fleet, server: SimServer):
        super().__init__(EocortexApp(fleet, server), server._connections)
        self.server = server

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not self.server._http_wanted:
            assert isinstance(transport, asyncio.Transport)
            transport.abort()
            return
        super().connection_made(transport)


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _xml_bool(value: bool) -> str:
    return "true" if value else "false"


def format_time(moment: Any) -> str:
    """Eocortex's gettime format, e.g. 22.09.2018 3:33:06."""
    return (
        f"{moment.day:02d}.{moment.month:02d}.{moment.year} "
        f"{moment.hour}:{moment.minute:02d}:{moment.second:02d}"
    )


class EocortexApp:
    """Routes and renders the Eocortex status API for one server, honouring its faults."""

    def __init__(self, fleet: Fleet, server: SimServer):
        self.fleet = fleet
        self.server = server

    def __call__(self, req: Request) -> Response | None:
        server = self.server
        command = req.query.get("type")
        server.log_request(req.path + (f"?type={command}" if command else ""))
        faults = server.faults
        if "hang" in faults:
            return None
        if "http_500" in faults:
            return Response(500, b"Internal Server Error")
        if not self._authenticated(req):
            return Response(self.fleet.unauthorized_status, b"Unauthorized")
        path = req.path.lower().rstrip("/")
        as_json = req.query.get("responsetype", "").lower() == "json"
        if path == "/configex":
            return self._status(self._configex(as_json), as_json)
        if path == "/command":
            body = self._command((command or "").lower(), as_json)
            if body is None:
                return Response(400, b"Unknown command")
            return self._status(body, as_json)
        if path.startswith(("/configure", "/api")):
            message = "Resource forbidden for this user: configuration rights are required"
            return Response(403, _json({"ErrorMessage": message}), JSON_TYPE)
        if path.startswith(("/site", "/mobile")):
            if "rights_granted" in faults:
                return Response(200, b"\xff\xd8\xff\xe0 simulated frame \xff\xd9", "image/jpeg")
            return Response(403, b"Forbidden")
        return Response(404, b"Not Found")

    def _authenticated(self, req: Request) -> bool:
        login = req.query.get("login")
        password = req.query.get("password")
        if login is None:
            login, password = _basic_credentials(req.headers.get("authorization", ""))
        if login is None or password is None or login != self.fleet.login:
            return False
        if "wrong_password" in self.server.faults:
            return False
        if password == "" and self.fleet.password == "":
            return True
        return hmac.compare_digest(password.lower().encode(), self.fleet.password_md5.encode())

    def _status(self, body: bytes, as_json: bool) -> Response:
        faults = self.server.faults
        if "garbage" in faults:
            return Response(200, self.server.garbage_body or DEFAULT_GARBAGE, "text/plain")
        if "quirky_body" in faults:
            body = QUIRK_PREFIX + body
        return Response(200, body, JSON_TYPE if as_json else XML_TYPE)

    def _command(self, command: str, as_json: bool) -> bytes | None:
        if command == "gettime":
            now = format_time(self.fleet.clock())
            return _json(now) if as_json else f"{XML_DECL}<string>{escape(now)}</string>".encode()
        if command == "getchannelsstates":
            return self._channel_states(as_json)
        if command == "getallregisteredevents":
            if as_json:
                return _json([{"Id": i, "GuiName": n} for i, n in REGISTERED_EVENTS])
            items = "".join(
                f"<RegisteredEvent><Id>{i}</Id><GuiName>{escape(n)}</GuiName></RegisteredEvent>"
                for i, n in REGISTERED_EVENTS
            )
            return f"{XML_DECL}<ArrayOfRegisteredEvent>{items}</ArrayOfRegisteredEvent>".encode()
        return None

    def _channel_states(self, as_json: bool) -> bytes:
        cams = self.server.cameras
        if as_json:
            return _json(
                [
                    {
                        "Id": c.id,
                        "IsRecordingOn": c.recording,
                        "StreamsStates": [{"Type": "MainVideo", "State": c.state}],
                    }
                    for c in cams
                ]
            )
        items = "".join(
            f"<ChannelState><Id>{c.id}</Id><IsRecordingOn>{_xml_bool(c.recording)}</IsRecordingOn>"
            f"<StreamsStates><Stream><Type>MainVideo</Type><State>{escape(c.state)}</State>"
            "</Stream></StreamsStates></ChannelState>"
            for c in cams
        )
        return f"{XML_DECL}<ArrayOfChannelState>{items}</ArrayOfChannelState>".encode()

    def _configex(self, as_json: bool) -> bytes:
        server = self.server
        granted = "rights_granted" in server.faults
        group = {flag: granted and flag in GRANTED_WHEN_FAULTY for flag in USER_GROUP_FLAGS}
        group["IsAllForbidden"] = not granted
        timestamp = self.fleet.clock().isoformat()
        channels = [
            {
                "Id": c.id,
                "Name": c.name,
                "Description": "",
                "AttachedToServer": server.guid,
                "IsDisabled": c.disabled,
                "IsSoundOn": False,
                "IsArchivingEnabled": c.archiving,
                "IsSoundArchivingEnabled": False,
                "AllowedRealtime": granted,
                "AllowedArchive": granted,
                "IsPtzOn": False,
                "IsTransmitSoundOn": False,
                "ArchiveMode": "Constant",
                "ArchiveStreamType": "Main",
            }
            for c in server.cameras
        ]
        if as_json:
            doc = {
                "Id": server.guid,
                "SenderId": server.guid,
                "RevNum": 72,
                "Timestamp": timestamp,
                "XmlProtocolVersion": 2,
                "ServerVersion": SERVER_VERSION,
                "ProductType": "Ultra",
                "Servers": [
                    {
                        "Id": server.guid,
                        "Name": server.name,
                        "Url": f"{server.address}:{server.http_port}",
                        "PrimaryIp": server.address,
                        "PrimaryPort": server.http_port,
                        "PrimarySslPort": 18080,
                    }
                ],
                "Channels": [
                    {**ch, "Streams": [{"StreamType": "Main", "StreamFormat": "H264"}]}
                    for ch in channels
                ],
                "RootSecObject": {"Id": server.guid, "Name": "Root"},
                "UserGroup": {"Id": server.guid, "Name": "nls-monitoring", **group},
                "MobileServerInfo": {"IsEnabled": False},
                "RtspServerInfo": {"IsEnabled": False},
            }
            return _json(doc)
        chans = "".join(
            "<ChannelInfo "
            + " ".join(
                f"{k}={quoteattr(_xml_bool(v) if isinstance(v, bool) else str(v))}"
                for k, v in ch.items()
            )
            + '><Streams><StreamInfo StreamType="Main" StreamFormat="H264" '
            'RotationMode="None"/></Streams></ChannelInfo>'
            for ch in channels
        )
        flags = " ".join(f'{k}="{_xml_bool(v)}"' for k, v in group.items())
        return (
            f'{XML_DECL}<Configuration Id="{server.guid}" SenderId="{server.guid}" '
            f'Revision="72" Timestamp="{timestamp}" XMLProtocolVersion="2" '
            f'ServerVersion="{SERVER_VERSION}" ProductType="Ultra">'
            f'<Servers><ServerInfo Id="{server.guid}" Name={quoteattr(server.name)} '
            f'Url="{server.address}:{server.http_port}"/></Servers>'
            f"<Channels>{chans}</Channels>"
            f'<RootSecurityObject Id="{server.guid}" Name="Root"/>'
            f'<UserGroup Id="{server.guid}" Name="nls-monitoring" {flags}/>'
            '<MobileServerInfo IsEnabled="false"/><RtspServerInfo IsEnabled="false"/>'
            "</Configuration>"
        ).encode()


def _basic_credentials(header: str) -> tuple[str | None, str | None]:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        login, sep, password = (
            base64.b64decode(value.strip(), validate=True).decode().partition(":")
        )
    except (ValueError, UnicodeDecodeError):
        return None, None
    return (login, password) if sep else (None, None)
