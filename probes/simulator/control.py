"""Control interface of a running simulator: flip faults from another process.

GET /fleet, POST /fault {"server","fault","camera"?,"on"?}, POST /heal {"server"?}.
Bound to 127.0.0.1 only: it is a test tool, not a service.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from probes.simulator.fleet import Fleet
from probes.simulator.http import JSON_TYPE, H11Protocol, Request, Response
from probes.simulator.scenario import Step, run_scenario

DEFAULT_CONTROL_PORT = 7999


def _reply(status: int, payload: dict[str, Any]) -> Response:
    return Response(status, json.dumps(payload).encode(), JSON_TYPE)


class ControlApp:
    def __init__(self, fleet: Fleet):
        self.fleet = fleet

    def __call__(self, req: Request) -> Response:
        path = req.path.rstrip("/")
        routes = {"/fleet": "GET", "/fault": "POST", "/heal": "POST"}
        if path not in routes:
            return _reply(404, {"ok": False, "error": f"no such endpoint {path!r}"})
        if req.method != routes[path]:
            return _reply(405, {"ok": False, "error": f"use {routes[path]} {path}"})
        if path == "/fleet":
            return _reply(
                200, {"ok": True, "login": self.fleet.login, "servers": self.fleet.state()}
            )
        try:
            body = json.loads(req.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            return _reply(400, {"ok": False, "error": "body is not JSON"})
        if not isinstance(body, dict):
            return _reply(400, {"ok": False, "error": "body must be a JSON object"})
        try:
            if path == "/fault":
                return self._fault(body)
            server = body.get("server")
            self.fleet.heal(server)
            return _reply(200, {"ok": True, "healed": server or "all"})
        except KeyError as exc:
            return _reply(404, {"ok": False, "error": exc.args[0] if exc.args else str(exc)})
        except (ValueError, TypeError, OSError) as exc:
            return _reply(400, {"ok": False, "error": str(exc)})

    def _fault(self, body: dict[str, Any]) -> Response:
        server, fault = body.get("server"), body.get("fault")
        if not isinstance(server, str) or not isinstance(fault, str):
            return _reply(400, {"ok": False, "error": 'need "server" and "fault" strings'})
        on = body.get("on", True)
        if not isinstance(on, bool):
            return _reply(400, {"ok": False, "error": '"on" must be true or false'})
        self.fleet.set_fault(server, fault, on, camera=body.get("camera"))
        return _reply(200, {"ok": True, "server": self.fleet.state(server)[0]})


class ControlServer:
    """The control endpoint for one fleet; port 0 picks a free port (see .port)."""

    def __init__(self, fleet: Fleet, port: int = DEFAULT_CONTROL_PORT, host: str = "127.0.0.1"):
        self.fleet = fleet
        self.host = host
        self.port = port
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        app = ControlApp(self.fleet)
        self._server = await loop.create_server(lambda: H11Protocol(app), self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    async def __aenter__(self) -> ControlServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


async def send_control(
    port: int = DEFAULT_CONTROL_PORT,
    payload: dict[str, Any] | None = None,
    *,
    host: str = "127.0.0.1",
) -> dict[str, Any]:
    """None reads the fleet state; {"fault": ...} sets a fault; {"heal": true, ...} heals.

    Returns the JSON reply, including {"ok": false, "error": ...} on a refused command.
    """
    base = f"http://{host}:{port}"
    async with httpx.AsyncClient(timeout=5.0) as client:
        if payload is None:
            response = await client.get(f"{base}/fleet")
        elif "fault" in payload:
            response = await client.post(f"{base}/fault", json=payload)
        elif payload.get("heal"):
            body = {k: v for k, v in payload.items() if k != "heal"}
            response = await client.post(f"{base}/heal", json=body)
        else:
            raise ValueError('payload needs "fault" or "heal": true (or None to read the state)')
    try:
        reply = response.json()
    except ValueError:
        raise RuntimeError(f"control answered HTTP {response.status_code} without JSON") from None
    if not isinstance(reply, dict):
        raise RuntimeError("control answered with something other than a JSON object")
    return reply


async def serve(
    fleet: Fleet, *, control_port: int = DEFAULT_CONTROL_PORT, steps: list[Step] | None = None
) -> None:
    """Run the fleet, its control endpoint and an optional scenario until cancelled."""
    async with fleet, ControlServer(fleet, control_port):
        if steps:
            await run_scenario(fleet, steps)
        await asyncio.Event().wait()
