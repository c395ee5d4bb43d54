"""probe_eocortex against the simulator over real loopback sockets, one test per fault."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from probes.eocortex import (
    ALLOWED_REQUESTS,
    EocortexResult,
    client_limits,
    password_hash,
    probe_eocortex,
)
from probes.simulator.fleet import Fleet, SimServer

PASSWORD = "S3cret-for-tests"
FAST = {"request_timeout": 0.3, "server_timeout": 2.0}


@pytest.fixture(params=["lean", "httpx"])
async def http_client(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient | None]:
    """Every probe test runs over the engine's lean client (None) and over an httpx client."""
    if request.param == "lean":
        yield None
        return
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
async def fleet(fleet_factory) -> Fleet:
    return await fleet_factory(2, cameras=5, password=PASSWORD)


@pytest.fixture
def server(fleet: Fleet) -> SimServer:
    return fleet.servers["crest-0001"]


async def probe(client: httpx.AsyncClient | None, server: SimServer, **kwargs) -> EocortexResult:
    kwargs = {**FAST, **kwargs}
    password = kwargs.pop("password", PASSWORD)
    return await probe_eocortex(client, server.api_url, "nls", password, **kwargs)


@pytest.mark.parametrize("responsetype", ["json", "xml"])
async def test_healthy_server(http_client, server: SimServer, responsetype: str) -> None:
    result = await probe(http_client, server, responsetype=responsetype)
    assert result.ok, result.error
    assert (result.error, result.error_kind) == (None, None)
    assert result.server_name == "CREST-0001"
    assert result.version == "4.1.23"
    assert result.server_time and result.latency_ms is not None and result.latency_ms >= 0
    assert [c.id for c in result.cameras] == [c.id for c in server.cameras]
    assert result.cameras[0].name == "Entrance 01"
    assert all(c.online and c.recording and c.stream_state == "Active" for c in result.cameras)
    assert not any(c.allowed_realtime or c.allowed_archive for c in result.cameras)
    assert result.rights_findings == []


async def test_only_allowed_requests_are_sent(http_client, fleet: Fleet) -> None:
    for name in ("quirky_body", "rights_granted"):
        fleet.set_fault("crest-0002", name)
    for srv in fleet.servers.values():
        for responsetype in ("json", "xml"):
            await probe(http_client, srv, responsetype=responsetype)
        assert set(srv.requests) == ALLOWED_REQUESTS
        assert len(srv.requests) == 6


@pytest.mark.parametrize(
    ("fault", "kind", "error"),
    [
        ("port_closed", "refused", "connection refused"),
        ("host_down", "refused", "connection refused"),
        ("hang", "timeout", "no answer within 0.3 s"),
        ("http_500", "http", "HTTP 500 from /command?type=gettime"),
        (
            "garbage",
            "garbage",
            "unreadable answer from /command?type=gettime: neither XML nor JSON",
        ),
        ("wrong_password", "auth", "login rejected (HTTP 401): check the nls user's password"),
    ],
)
@pytest.mark.parametrize("responsetype", ["json", "xml"])
async def test_server_faults(
    http_client, fleet: Fleet, server: SimServer, fault: str, kind: str, error: str, responsetype
) -> None:
    fleet.set_fault(server.id, fault)
    result = await probe(http_client, server, responsetype=responsetype)
    assert not result.ok
    assert (result.error_kind, result.error) == (kind, error)
    assert result.cameras == []
    healthy = await probe(http_client, fleet.servers["crest-0002"], responsetype=responsetype)
    assert healthy.ok, "a fault must stay on its own server"


async def test_heal_restores_a_closed_port(http_client, fleet: Fleet, server: SimServer) -> None:
    for fault in ("port_closed", "host_down"):
        fleet.set_fault(server.id, fault)
        # A powered-off host answers nothing, not even a reset: a connection httpx kept alive
        # from the previous probe times out, a new one (the engine's client) is refused.
        kept = http_client is not None and fault == "host_down"
        expected = "timeout" if kept else "refused"
        assert (await probe(http_client, server)).error_kind == expected
        fleet.heal(server.id)
        result = await probe(http_client, server)
        assert result.ok, result.error


@pytest.mark.parametrize("responsetype", ["json", "xml"])
async def test_quirky_body_still_parses(
    http_client, fleet: Fleet, server: SimServer, responsetype: str
) -> None:
    fleet.set_fault(server.id, "quirky_body")
    result = await probe(http_client, server, responsetype=responsetype)
    assert result.ok, result.error
    assert len(result.cameras) == 5


@pytest.mark.parametrize("responsetype", ["json", "xml"])
async def test_rights_granted_is_reported(
    http_client, fleet: Fleet, server: SimServer, responsetype: str
) -> None:
    fleet.set_fault(server.id, "rights_granted")
    result = await probe(http_client, server, responsetype=responsetype)
    assert result.ok, result.error
    assert "UserGroup grants CanAccessVideoViaWeb" in result.rights_findings
    assert "camera 'Entrance 01' allows live view" in result.rights_findings
    assert "camera 'Entrance 01' allows archive playback" in result.rights_findings
    assert all(c.allowed_realtime and c.allowed_archive for c in result.cameras)


@pytest.mark.parametrize("responsetype", ["json", "xml"])
async def test_camera_faults(
    http_client, fleet: Fleet, server: SimServer, responsetype: str
) -> None:
    fleet.set_fault(server.id, "camera_offline", camera=1)
    fleet.set_fault(server.id, "recording_off", camera=2)
    fleet.set_fault(server.id, "camera_disabled", camera=server.cameras[3].id)
    result = await probe(http_client, server, responsetype=responsetype)
    assert result.ok, result.error
    by_id = {c.id: c for c in result.cameras}
    offline = by_id[server.cameras[1].id]
    assert (offline.online, offline.stream_state, offline.recording) == (
        False,
        "NoConnection",
        True,
    )
    not_recording = by_id[server.cameras[2].id]
    assert (not_recording.online, not_recording.recording) == (True, False)
    assert server.cameras[3].id not in by_id, "disabled cameras are skipped"
    assert len(result.cameras) == 4


async def test_client_side_wrong_password(http_client, server: SimServer) -> None:
    result = await probe(http_client, server, password="not-it")
    assert result.error_kind == "auth"
    assert "check the nls user's password" in (result.error or "")


async def test_server_timeout_bounds_the_whole_probe(
    http_client, fleet: Fleet, server: SimServer
) -> None:
    fleet.set_fault(server.id, "hang")
    result = await probe(http_client, server, request_timeout=5.0, server_timeout=0.2)
    assert (result.error_kind, result.error) == ("timeout", "no complete answer within 0.2 s")


async def test_cancellation_propagates(http_client, fleet: Fleet, server: SimServer) -> None:
    fleet.set_fault(server.id, "hang")
    task = asyncio.create_task(probe(http_client, server, request_timeout=30, server_timeout=30))
    for _ in range(10_000):
        if "/command?type=gettime" in server.requests:
            break
        await asyncio.sleep(0)  # yield to the loop; no wall-clock wait
    assert "/command?type=gettime" in server.requests
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_nothing_listening_at_all(http_client) -> None:
    result = await probe_eocortex(http_client, "http://127.77.250.1:9", "nls", PASSWORD, **FAST)
    assert (result.error_kind, result.error) == ("refused", "connection refused")


SECRET_FAULTS = [
    None,
    "port_closed",
    "hang",
    "http_500",
    "garbage",
    "wrong_password",
    "quirky_body",
    "rights_granted",
]


async def test_password_hash_never_leaks(
    http_client, fleet: Fleet, server: SimServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = password_hash(PASSWORD)
    texts = []
    for fault in SECRET_FAULTS:
        fleet.heal()
        if fault:
            fleet.set_fault(server.id, fault)
        for responsetype in ("json", "xml"):
            result = await probe(http_client, server, responsetype=responsetype)
            texts += [repr(result), str(result.error)]
    # a garbage body that echoes the URL, as some error pages do
    fleet.heal()
    fleet.set_fault(server.id, "garbage")
    server.garbage_body = f"bad request /configex?password={secret.upper()}".encode()
    texts.append(repr(await probe(http_client, server)))
    if http_client is not None:
        assert any("password=***" in r.getMessage() for r in caplog.records), "httpx redacted"
    everything = "\n".join([*texts, caplog.text])
    assert secret not in everything.lower()
    assert PASSWORD not in everything


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(body=st.binary(max_size=300))
async def test_probe_never_raises_on_garbage(http_client, fleet: Fleet, body: bytes) -> None:
    server = fleet.servers["crest-0002"]
    fleet.set_fault(server.id, "garbage")
    server.garbage_body = body
    result = await probe(http_client, server)
    assert not result.ok
    assert result.error_kind == "garbage"
    assert result.error and result.error.startswith("unreadable answer from /")


async def test_many_servers_through_one_bounded_client(fleet_factory) -> None:
    fleet = await fleet_factory(5, cameras=8, password=PASSWORD)
    gate = asyncio.Semaphore(2)
    async with httpx.AsyncClient(limits=client_limits(2)) as client:

        async def one(srv: SimServer) -> EocortexResult:
            async with gate:
                return await probe(client, srv)

        results = await asyncio.gather(*(one(s) for s in fleet.servers.values()))
    assert [r.server_name for r in results] == [s.name for s in fleet.servers.values()]
    assert all(r.ok and len(r.cameras) == 8 for r in results)
