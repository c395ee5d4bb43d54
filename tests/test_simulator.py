"""Fleet simulator: determinism, HTTP API and auth, fault switches, control API, scenarios."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from pathlib import Path

import httpx
import pytest

from probes.simulator.control import ControlServer, send_control
from probes.simulator.fleet import (
    ALL_FAULTS,
    REQUEST_LOG_CAP,
    Fleet,
    HostModes,
    SimServer,
    build_fleet,
    loopback_address,
)
from probes.simulator.scenario import (
    ScenarioError,
    Step,
    load_scenario,
    parse_duration,
    run_scenario,
)


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def creds(fleet: Fleet, *, upper: bool = False) -> dict[str, str]:
    digest = md5(fleet.password)
    return {"login": fleet.login, "password": digest.upper() if upper else digest}


# ---------------------------------------------------------------- building


def test_fleet_is_deterministic() -> None:
    a, b = build_fleet(40), build_fleet(40)
    assert a.describe() == b.describe()
    for sa, sb in zip(a.servers.values(), b.servers.values(), strict=True):
        assert sa.cameras == sb.cameras
        assert 4 <= len(sa.cameras) <= 64
    counts = {len(s.cameras) for s in a.servers.values()}
    assert len(counts) > 5, "camera counts vary between servers"
    first = a.servers["crest-0001"]
    assert first.address == "127.77.0.1"
    assert first.cameras[0].name == "Entrance 01"
    platforms = [s.platform for s in a.servers.values()]
    assert platforms.count("windows") == 30 and platforms.count("linux") == 10


def test_fixed_camera_count_and_unique_ids() -> None:
    fleet = build_fleet(3, cameras=30)
    ids = [c.id for s in fleet.servers.values() for c in s.cameras]
    assert len(ids) == len(set(ids)) == 90


def test_addresses_skip_network_and_broadcast_octets() -> None:
    assert loopback_address("127.77.0.1", 253) == "127.77.0.254"
    assert loopback_address("127.77.0.1", 254) == "127.77.1.1"
    fleet = build_fleet(1000)
    addresses = [s.address for s in fleet.servers.values()]
    assert len(set(addresses)) == 1000
    assert not any(a.endswith((".0", ".255")) for a in addresses)
    with pytest.raises(ValueError, match="loopback"):
        loopback_address("10.0.0.1", 0)


def test_describe_fields() -> None:
    row = build_fleet(1, cameras=7, http_port=18080).describe()[0]
    assert row == {
        "id": "crest-0001",
        "name": "CREST-0001",
        "address": "127.77.0.1",
        "api_url": "http://127.77.0.1:18080",
        "platform": "windows",
        "cameras": 7,
        "ssh_port": 2222,
        "rdp_port": 3389,
    }


# ---------------------------------------------------------------- faults


def test_fault_errors_are_clear() -> None:
    fleet = build_fleet(2, cameras=3)
    with pytest.raises(KeyError, match="unknown server 'crest-9999'"):
        fleet.set_fault("crest-9999", "hang")
    with pytest.raises(ValueError, match="unknown fault 'melt'"):
        fleet.set_fault("crest-0001", "melt")
    with pytest.raises(ValueError, match="needs a camera"):
        fleet.set_fault("crest-0001", "camera_offline")
    with pytest.raises(KeyError, match="no camera index 3"):
        fleet.set_fault("crest-0001", "camera_offline", camera=3)
    with pytest.raises(KeyError, match="no camera with id 'nope'"):
        fleet.set_fault("crest-0001", "recording_off", camera="nope")
    with pytest.raises(ValueError, match="whole server"):
        fleet.set_fault("crest-0001", "hang", camera=0)
    with pytest.raises(KeyError):
        fleet.heal("crest-0042")


def test_host_faults_set_host_modes_and_heal_resets() -> None:
    fleet = build_fleet(1)
    sid = "crest-0001"
    server = fleet.servers[sid]
    for fault, attr, value in [
        ("cpu_high", "cpu", "high"),
        ("cpu_spike", "cpu", "spike"),
        ("disk_idle", "disk", "idle"),
        ("ssh_down", "ssh", "down"),
        ("rdp_silent", "rdp", "silent"),
        ("rdp_reset", "rdp", "reset"),
        ("rdp_neg_failure", "rdp", "neg_failure"),
        ("rdp_legacy", "rdp", "legacy"),
    ]:
        fleet.set_fault(sid, fault)
        assert getattr(server.host, attr) == value
    assert server.faults == {"cpu_spike", "disk_idle", "ssh_down", "rdp_legacy"}, "one per mode"
    fleet.set_fault(sid, "rdp_legacy", on=False)
    assert server.host.rdp == "confirm"
    fleet.set_fault(sid, "camera_offline", camera=0)
    fleet.heal(sid)
    assert server.host == HostModes() and server.faults == set()
    assert server.cameras[0].state == "Active"


def test_every_fault_name_can_be_switched() -> None:
    fleet = build_fleet(1, cameras=2)
    for fault in sorted(ALL_FAULTS):
        camera = 0 if fault in {"camera_offline", "recording_off", "camera_disabled"} else None
        fleet.set_fault("crest-0001", fault, camera=camera)
        fleet.set_fault("crest-0001", fault, on=False, camera=camera)
    server = fleet.servers["crest-0001"]
    assert server.faults == set() and server.camera_faults() == []


def test_request_log_is_capped() -> None:
    server = build_fleet(1).servers["crest-0001"]
    for i in range(REQUEST_LOG_CAP + 50):
        server.log_request(f"/r{i}")
    assert len(server.requests) == REQUEST_LOG_CAP
    assert server.requests[-1] == f"/r{REQUEST_LOG_CAP + 49}"


# ---------------------------------------------------------------- HTTP API


async def test_configex_xml_and_json_naming(fleet: Fleet, http_client) -> None:
    server = fleet.servers["crest-0001"]
    xml = await http_client.get(f"{server.api_url}/configex", params=creds(fleet))
    assert xml.status_code == 200 and xml.headers["content-type"].startswith("application/xml")
    assert 'Revision="72"' in xml.text and 'XMLProtocolVersion="2"' in xml.text
    assert "<RootSecurityObject" in xml.text and 'AllowedRealtime="false"' in xml.text
    assert 'CanAccessVideoViaWeb="false"' in xml.text
    doc = (
        await http_client.get(
            f"{server.api_url}/configex", params={**creds(fleet), "responsetype": "json"}
        )
    ).json()
    assert doc["RevNum"] == 72 and doc["XmlProtocolVersion"] == 2 and "RootSecObject" in doc
    assert doc["Servers"][0]["PrimaryIp"] == server.address
    assert [c["Id"] for c in doc["Channels"]] == [c.id for c in server.cameras]
    assert doc["Channels"][0]["Streams"][0]["StreamType"] == "Main"
    assert doc["UserGroup"]["CanConfigure"] is False


async def test_commands(fleet: Fleet, http_client) -> None:
    server = fleet.servers["crest-0002"]
    url = f"{server.api_url}/command"
    text = (await http_client.get(url, params={"type": "gettime", **creds(fleet)})).text
    assert text.startswith('<?xml version="1.0" encoding="utf-8"?><string>')
    as_json = {"responsetype": "json", **creds(fleet)}
    assert isinstance(
        (await http_client.get(url, params={"type": "gettime", **as_json})).json(), str
    )
    states = (await http_client.get(url, params={"type": "getchannelsstates", **as_json})).json()
    assert states[0]["StreamsStates"] == [{"Type": "MainVideo", "State": "Active"}]
    events = await http_client.get(url, params={"type": "getallregisteredevents", **as_json})
    assert {"Id", "GuiName"} <= events.json()[0].keys()
    unknown = await http_client.get(url, params={"type": "reboot", **creds(fleet)})
    assert unknown.status_code == 400


@pytest.mark.parametrize(
    ("params", "auth", "status"),
    [
        ("lower", None, 200),
        ("upper", None, 200),
        (None, "basic", 200),
        ("bad-login", None, 401),
        ("bad-password", None, 401),
        (None, None, 401),
    ],
)
async def test_authentication(fleet: Fleet, http_client, params, auth, status: int) -> None:
    server = fleet.servers["crest-0001"]
    query = {"type": "gettime"}
    headers = {}
    if params == "lower":
        query |= creds(fleet)
    elif params == "upper":
        query |= creds(fleet, upper=True)
    elif params == "bad-login":
        query |= {**creds(fleet), "login": "admin"}
    elif params == "bad-password":
        query |= {"login": "nls", "password": md5("guess")}
    if auth == "basic":
        token = base64.b64encode(f"nls:{md5(fleet.password)}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    response = await http_client.get(f"{server.api_url}/command", params=query, headers=headers)
    assert response.status_code == status


async def test_empty_password_form(fleet_factory, http_client) -> None:
    fleet = await fleet_factory(1, password="")
    server = fleet.servers["crest-0001"]
    for password in ("", md5("")):
        response = await http_client.get(
            f"{server.api_url}/command",
            params={"type": "gettime", "login": "nls", "password": password},
        )
        assert response.status_code == 200


@pytest.mark.parametrize(
    "path", ["/configure/channels", "/configure/groups/1", "/api/cameras", "/site", "/mobile"]
)
async def test_video_and_config_endpoints_are_forbidden(fleet: Fleet, http_client, path) -> None:
    server = fleet.servers["crest-0001"]
    response = await http_client.get(f"{server.api_url}{path}", params=creds(fleet))
    assert response.status_code == 403
    basic = await http_client.get(f"{server.api_url}{path}", auth=("nls", md5(fleet.password)))
    assert basic.status_code == 403
    assert (await http_client.get(f"{server.api_url}{path}")).status_code == 401


async def test_request_log_has_no_credentials(fleet: Fleet, http_client) -> None:
    server = fleet.servers["crest-0001"]
    await http_client.get(
        f"{server.api_url}/command",
        params={"type": "getchannelsstates", "responsetype": "json", **creds(fleet)},
    )
    await http_client.get(f"{server.api_url}/configex", params=creds(fleet))
    await http_client.get(f"{server.api_url}/site", params={"channelid": "x", **creds(fleet)})
    assert server.requests == ["/command?type=getchannelsstates", "/configex", "/site"]


async def test_keep_alive_uses_one_connection(fleet: Fleet, http_client) -> None:
    server = fleet.servers["crest-0001"]
    for _ in range(5):
        response = await http_client.get(f"{server.api_url}/configex", params=creds(fleet))
        assert response.status_code == 200
    assert len(server._connections) == 1


async def test_hang_accepts_and_never_answers(fleet: Fleet) -> None:
    server = fleet.servers["crest-0001"]
    fleet.set_fault(server.id, "hang")
    reader, writer = await asyncio.open_connection(server.address, server.http_port)
    writer.write(b"GET /command?type=gettime HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.read(1), timeout=0.2)
    writer.close()


async def test_malformed_request_gets_400(fleet: Fleet) -> None:
    server = fleet.servers["crest-0001"]
    reader, writer = await asyncio.open_connection(server.address, server.http_port)
    writer.write(b"NOT HTTP AT ALL\r\n\r\n")
    assert (await reader.read()).startswith(b"HTTP/1.1 400")
    writer.close()


async def test_port_closed_refuses_and_heal_reopens_same_port(fleet: Fleet, http_client) -> None:
    server = fleet.servers["crest-0003"]
    port = server.http_port
    fleet.set_fault(server.id, "port_closed")
    with pytest.raises(httpx.ConnectError):
        await http_client.get(f"{server.api_url}/configex")
    fleet.heal(server.id)
    assert server.http_port == port
    assert (await http_client.get(f"{server.api_url}/configex")).status_code == 401


async def _refused(address: str, port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection(address, port)
    except ConnectionRefusedError:
        return True
    writer.close()
    return False


async def test_listener_factories_follow_host_down(fleet_factory) -> None:
    calls: list[str] = []
    ports: dict[str, int] = {}

    async def echo_factory(server: SimServer) -> list[asyncio.AbstractServer]:
        calls.append(server.id)

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"hello")
            writer.close()

        listener = await asyncio.start_server(handle, server.address, ports.get(server.id, 0))
        ports[server.id] = listener.sockets[0].getsockname()[1]
        return [listener]

    fleet = build_fleet(2, http_port=0, cameras=4)
    fleet.add_listener_factory(echo_factory)
    async with fleet:
        assert sorted(calls) == ["crest-0001", "crest-0002"]
        server = fleet.servers["crest-0001"]
        fleet.set_fault(server.id, "host_down")
        assert await _refused(server.address, ports[server.id])
        assert await _refused(server.address, server.http_port)
        fleet.set_fault(server.id, "port_closed")
        fleet.heal(server.id)
        await fleet.settle()
        assert calls.count(server.id) == 2
        reader, writer = await asyncio.open_connection(server.address, ports[server.id])
        assert await reader.read() == b"hello"
        writer.close()
        assert not await _refused(server.address, server.http_port)


async def test_fast_toggling_converges(fleet: Fleet, http_client) -> None:
    server = fleet.servers["crest-0001"]
    for _ in range(5):
        fleet.set_fault(server.id, "port_closed")
        fleet.set_fault(server.id, "port_closed", on=False)
    fleet.set_fault(server.id, "port_closed")
    await fleet.settle()
    assert await _refused(server.address, server.http_port)
    fleet.heal()
    await fleet.settle()
    assert (await http_client.get(f"{server.api_url}/configex")).status_code == 401


async def test_restart_after_stop(http_client) -> None:
    fleet = build_fleet(2, http_port=0, cameras=4)
    async with fleet:
        port = fleet.servers["crest-0001"].http_port
    assert await _refused("127.77.0.1", port)
    async with fleet:
        url = fleet.servers["crest-0001"].api_url
        assert (await http_client.get(f"{url}/configex")).status_code == 401


# ---------------------------------------------------------------- control


async def test_control_api(fleet: Fleet) -> None:
    async with ControlServer(fleet, port=0) as control:
        state = await send_control(control.port)
        assert state["ok"] and [s["id"] for s in state["servers"]] == list(fleet.servers)
        reply = await send_control(
            control.port, {"server": "crest-0002", "fault": "camera_offline", "camera": 1}
        )
        assert reply["ok"]
        assert reply["server"]["camera_faults"][0]["fault"] == "camera_offline"
        assert fleet.servers["crest-0002"].cameras[1].state == "NoConnection"
        await send_control(control.port, {"server": "crest-0002", "fault": "http_500"})
        assert (await send_control(control.port))["servers"][1]["faults"] == ["http_500"]
        reply = await send_control(control.port, {"heal": True, "server": "crest-0002"})
        assert reply == {"ok": True, "healed": "crest-0002"}
        assert fleet.servers["crest-0002"].faults == set()
        assert (await send_control(control.port, {"heal": True}))["healed"] == "all"


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"server": "crest-0404", "fault": "hang"}, "unknown server"),
        ({"server": "crest-0001", "fault": "explode"}, "unknown fault"),
        ({"server": "crest-0001", "fault": "recording_off"}, "needs a camera"),
        ({"server": "crest-0001", "fault": "hang", "on": "yes"}, "true or false"),
        ({"fault": "hang"}, "need"),
    ],
)
async def test_control_errors(fleet: Fleet, payload, error: str) -> None:
    async with ControlServer(fleet, port=0) as control:
        reply = await send_control(control.port, payload)
        assert reply["ok"] is False and error in reply["error"]


async def test_control_rejects_bad_requests(fleet: Fleet, http_client) -> None:
    async with ControlServer(fleet, port=0) as control:
        base = f"http://127.0.0.1:{control.port}"
        assert (await http_client.post(f"{base}/fault", content=b"{nope")).status_code == 400
        assert (await http_client.get(f"{base}/fault")).status_code == 405
        assert (await http_client.get(f"{base}/nothing")).status_code == 404
    with pytest.raises(ValueError, match="fault"):
        await send_control(control.port, {"server": "crest-0001"})


# ---------------------------------------------------------------- scenarios

SCENARIO = """
[[step]]
at = "2m"
server = "crest-0002"
fault = "http_500"

[[step]]
at = 30
server = "crest-0001"
fault = "camera_offline"
camera = 2

[[step]]
at = "90s"
server = "crest-0001"
fault = "cpu_high"

[[step]]
at = "1h"
heal = true

[[step]]
at = "2m"
server = "crest-0001"
fault = "camera_offline"
camera = 2
on = false
"""


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(90, 90.0), ("90s", 90.0), ("2m", 120.0), ("1h", 3600.0), ("1m30s", 90.0), ("45", 45.0)],
)
def test_durations(text, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_load_scenario(tmp_path: Path) -> None:
    path = tmp_path / "demo.toml"
    path.write_text(SCENARIO)
    steps = load_scenario(path)
    assert [s.at for s in steps] == [120, 30, 90, 3600, 120]
    assert steps[1] == Step(
        at=30, server="crest-0001", fault="camera_offline", camera=2, index=2, source=str(path)
    )
    assert steps[3].heal and steps[3].server is None
    assert steps[4].on is False


async def test_run_scenario_in_time_order_with_injected_sleep(tmp_path: Path) -> None:
    path = tmp_path / "demo.toml"
    path.write_text(SCENARIO)
    fleet = build_fleet(2, cameras=4)
    slept: list[float] = []
    seen: list[tuple[int, str]] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        server = fleet.servers["crest-0001"]
        seen.append((len(slept), server.cameras[2].state))

    applied: list[int] = []
    await run_scenario(
        fleet, load_scenario(path), sleep=fake_sleep, on_step=lambda s: applied.append(s.index)
    )
    assert slept == [30, 60, 30, 3480]
    assert applied == [2, 3, 1, 5, 4]
    assert seen[1] == (2, "NoConnection"), "camera went offline at 30 s"
    assert all(s.faults == set() for s in fleet.servers.values()), "healed at 1 h"


async def test_run_scenario_checks_servers_and_cameras_first(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        '[[step]]\nat = 1\nserver = "crest-0001"\nfault = "hang"\n'
        '[[step]]\nat = 2\nserver = "crest-0001"\nfault = "recording_off"\ncamera = 9\n'
    )
    fleet = build_fleet(1, cameras=4)

    async def no_sleep(seconds: float) -> None:
        raise AssertionError("must fail before waiting")

    with pytest.raises(
        ScenarioError, match=r"bad\.toml: step 2: key 'camera': .*no camera index 9"
    ):
        await run_scenario(fleet, load_scenario(path), sleep=no_sleep)
    assert fleet.servers["crest-0001"].faults == set()


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ('[[step]]\nat = "soon"\nserver = "crest-0001"\nfault = "hang"', "step 1: key 'at'"),
        ('[[step]]\nserver = "crest-0001"\nfault = "hang"', "step 1: key 'at': missing"),
        ('[[step]]\nat = 1\nfault = "hang"', "step 1: key 'server': missing"),
        (
            '[[step]]\nat = 1\nserver = "crest-0001"\nfault = "hang"\n'
            '[[step]]\nat = 2\nserver = "crest-0001"\nfault = "hungry"',
            "step 2: key 'fault': unknown fault 'hungry'",
        ),
        ('[[step]]\nat = 1\nserver = "crest-0001"', "step 1: key 'fault': missing"),
        (
            '[[step]]\nat = 1\nserver = "crest-0001"\nfault = "camera_offline"',
            "step 1: key 'camera': missing",
        ),
        (
            '[[step]]\nat = 1\nserver = "crest-0001"\nfault = "hang"\ncamera = 1',
            "step 1: key 'camera': not allowed",
        ),
        ('[[step]]\nat = 1\nserver = "crest-0001"\nfault = "hang"\non = "yes"', "key 'on'"),
        ('[[step]]\nat = 1\nheal = true\nfault = "hang"', "step 1: key 'fault': not allowed"),
        ('[[step]]\nat = 1\nheal = true\ncolour = "red"', "step 1: key 'colour': unknown key"),
        ("[[step]]\nat = -5\nheal = true", "step 1: key 'at': must not be negative"),
        ("[[step]\nat = 1", "not valid TOML"),
        ("[steps]\nat = 1", "unknown table 'steps'"),
    ],
)
def test_scenario_errors_name_file_step_and_key(tmp_path: Path, body: str, match: str) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(body)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert match in message


def test_missing_scenario_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"nothere\.toml: cannot read"):
        load_scenario(tmp_path / "nothere.toml")


def test_control_state_is_json_serialisable() -> None:
    fleet = build_fleet(2, cameras=3)
    fleet.set_fault("crest-0001", "recording_off", camera=0)
    json.dumps(fleet.state())
