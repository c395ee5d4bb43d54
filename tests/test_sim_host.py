"""Simulated SSH metrics and RDP endpoints on the real Fleet, read by the real probes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncssh
import pytest

from probes.rdp import probe_rdp
from probes.simulator.fleet import Fleet, build_fleet
from probes.simulator.rdp import rdp_listener_factory
from probes.simulator.ssh import ssh_listener_factory
from probes.ssh import HostResult, SshTarget, probe_host

MB = 1024 * 1024
CLIENT_KEY = asyncssh.generate_private_key("ssh-ed25519")


@pytest.fixture
async def fleet() -> AsyncIterator[Fleet]:
    fleet = build_fleet(4, cameras=1, base="127.91.0.1", http_port=0)
    for server in fleet.servers.values():
        server.ssh_port = 0
        server.rdp_port = 0
    ssh = ssh_listener_factory(
        username=fleet.login,
        password=fleet.password,
        authorized_keys=[CLIENT_KEY.export_public_key("openssh").decode()],
    )
    fleet.add_listener_factory(ssh)
    fleet.add_listener_factory(rdp_listener_factory())
    fleet.ssh_host_key = ssh.host_key  # type: ignore[attr-defined]
    async with fleet:
        yield fleet


def target_for(fleet: Fleet, server_id: str, **over: object) -> SshTarget:
    server = fleet.server(server_id)
    key = fleet.ssh_host_key.export_public_key("openssh").decode()  # type: ignore[attr-defined]
    base: dict[str, object] = {
        "host": server.address,
        "port": server.ssh_port,
        "username": fleet.login,
        "password": fleet.password,
        "pinned_key": key,
        "connect_timeout": 2.0,
        "auth_timeout": 5.0,
    }
    base.update(over)
    return SshTarget(**base)  # type: ignore[arg-type]


async def probe(fleet: Fleet, server_id: str, window_s: float = 5.0) -> HostResult:
    server = fleet.server(server_id)
    return await probe_host(target_for(fleet, server_id), server.platform, window_s)  # type: ignore[arg-type]


async def test_the_simulator_answers_without_sleeping_the_window(fleet: Fleet) -> None:
    """A ten-minute sampling window answered at once: the simulator advances its counters as if
    the window had passed (a hang guard, not a timing target; see bench/ for figures)."""
    async with asyncio.timeout(300):
        result = await probe(fleet, "crest-0001", window_s=600.0)
    assert result.ok, result.error
    assert result.metrics is not None and result.metrics.window_s == pytest.approx(600.0)


@pytest.mark.parametrize("server_id", ["crest-0001", "crest-0004"])
async def test_steady_host(fleet: Fleet, server_id: str) -> None:
    result = await probe(fleet, server_id)
    assert result.ok, result.error
    m = result.metrics
    assert m is not None and m.samples == 3 and m.window_s == pytest.approx(5.0)
    assert 20.0 <= m.cpu_min_pct <= m.cpu_busy_pct <= 40.0
    assert 2 * MB <= m.disk_write_bps <= 8.1 * MB


@pytest.mark.parametrize("server_id", ["crest-0001", "crest-0004"])
async def test_cpu_high_every_sample(fleet: Fleet, server_id: str) -> None:
    fleet.set_fault(server_id, "cpu_high")
    m = (await probe(fleet, server_id)).metrics
    assert m is not None and m.cpu_min_pct >= 99.0


@pytest.mark.parametrize("server_id", ["crest-0001", "crest-0004"])
async def test_cpu_spike_is_one_sample(fleet: Fleet, server_id: str) -> None:
    fleet.set_fault(server_id, "cpu_spike")
    m = (await probe(fleet, server_id)).metrics
    assert m is not None
    assert m.cpu_min_pct <= 40.0 < m.cpu_busy_pct < 98.0


@pytest.mark.parametrize("server_id", ["crest-0001", "crest-0004"])
async def test_disk_idle(fleet: Fleet, server_id: str) -> None:
    fleet.set_fault(server_id, "disk_idle")
    m = (await probe(fleet, server_id)).metrics
    assert m is not None and m.disk_write_bps == 0.0


async def test_linux_counts_whole_disk_once(fleet: Fleet) -> None:
    m = (await probe(fleet, "crest-0004")).metrics
    assert m is not None and m.disks == ("vda",)


async def test_windows_named_archive_disk(fleet: Fleet) -> None:
    server = fleet.server("crest-0001")
    result = await probe_host(target_for(fleet, "crest-0001"), "windows", 5.0, disk="D")
    assert result.ok and result.metrics and result.metrics.disks == ("1 D:",)
    assert server.platform == "windows"


async def test_wrong_platform_command_fails(fleet: Fleet) -> None:
    result = await probe_host(target_for(fleet, "crest-0001"), "linux", 5.0)
    assert result.error_kind == "command"


async def test_key_auth_and_wrong_password(fleet: Fleet, tmp_path) -> None:
    path = tmp_path / "id"
    CLIENT_KEY.write_private_key(str(path))
    by_key = await probe_host(
        target_for(fleet, "crest-0002", password=None, client_keys=(str(path),)), "windows", 5.0
    )
    assert by_key.ok, by_key.error
    bad = await probe_host(target_for(fleet, "crest-0002", password="nope"), "windows", 5.0)
    assert bad.error_kind == "auth"


async def test_one_host_key_for_the_fleet(fleet: Fleet) -> None:
    a = await probe(fleet, "crest-0001")
    b = await probe(fleet, "crest-0002")
    assert a.fingerprint == b.fingerprint is not None


async def test_ssh_down_and_host_down(fleet: Fleet) -> None:
    fleet.set_fault("crest-0002", "ssh_down")
    down = await probe(fleet, "crest-0002")
    assert not down.ok and down.error_kind == "refused"
    fleet.set_fault("crest-0002", "ssh_down", on=False)
    assert (await probe(fleet, "crest-0002")).ok
    fleet.set_fault("crest-0003", "host_down")
    await fleet.settle()
    gone = await probe(fleet, "crest-0003")
    assert gone.error_kind == "refused"
    server = fleet.server("crest-0003")
    assert (await probe_rdp(server.address, server.rdp_port, 1.0)).state == "refused"
    fleet.set_fault("crest-0003", "host_down", on=False)
    await fleet.settle()
    assert (await probe(fleet, "crest-0003")).ok


@pytest.mark.parametrize(
    ("fault", "state", "protocol", "code"),
    [
        (None, "alive", 2, None),
        ("rdp_neg_failure", "alive", None, 2),
        ("rdp_legacy", "alive", None, None),
        ("rdp_silent", "hung", None, None),
        ("rdp_reset", "reset", None, None),
    ],
)
async def test_rdp_modes(
    fleet: Fleet, fault: str | None, state: str, protocol: int | None, code: int | None
) -> None:
    server = fleet.server("crest-0001")
    if fault:
        fleet.set_fault(server.id, fault)
    result = await probe_rdp(server.address, server.rdp_port, 0.5)
    assert (result.state, result.protocol, result.failure_code) == (state, protocol, code)


async def test_linux_rdp_selects_ssl(fleet: Fleet) -> None:
    server = fleet.server("crest-0004")
    result = await probe_rdp(server.address, server.rdp_port, 1.0)
    assert result.state == "alive" and result.protocol == 1
