"""SSH probe against a real OpenSSH sshd on loopback: metrics, host keys, auth, secrets."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import asyncssh
import pytest

from probes.ssh import HostResult, SshPool, SshTarget, fingerprint_of, probe_host

if TYPE_CHECKING:
    from tests.realservers import RealSshd

pytest_plugins = ["tests.realservers"]

pytestmark = pytest.mark.realserver

WINDOW_S = 1.0


def target(sshd: RealSshd, **over: object) -> SshTarget:
    base: dict[str, object] = {
        "host": sshd.host,
        "port": sshd.port,
        "username": sshd.username,
        "client_keys": (sshd.client_key,),
        "known_hosts": sshd.known_hosts,
        "connect_timeout": 5.0,
        "auth_timeout": 10.0,
    }
    base.update(over)
    return SshTarget(**base)  # type: ignore[arg-type]


def tmp_device() -> str:
    """Whole-disk name of the block device holding the temp folder (e.g. vda)."""
    dev = os.stat(os.environ.get("TMPDIR", "/tmp")).st_dev
    sysdev = Path(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}").resolve()
    if (sysdev / "partition").exists():
        sysdev = sysdev.parent
    return sysdev.name


async def test_metrics_from_real_proc(real_sshd: RealSshd) -> None:
    result = await probe_host(target(real_sshd), "linux", WINDOW_S)
    assert result.ok, result.error
    m = result.metrics
    assert m is not None
    assert 0.0 <= m.cpu_min_pct <= m.cpu_busy_pct + 0.001 <= 100.001
    assert m.samples == 3
    assert 0.8 <= m.window_s <= 3.0
    assert m.disks and all(not d.startswith(("loop", "zram", "dm-")) for d in m.disks)
    assert result.fingerprint == fingerprint_of(real_sshd.host_key_pub)
    assert result.connect_ms is not None and result.latency_ms >= result.connect_ms


async def test_idle_reads_lower_than_busy(real_sshd: RealSshd) -> None:
    idle = await probe_host(target(real_sshd), "linux", WINDOW_S)
    procs = [
        await asyncio.create_subprocess_exec(sys.executable, "-c", "while True: pass")
        for _ in range(os.cpu_count() or 2)
    ]
    try:
        busy = await probe_host(target(real_sshd), "linux", WINDOW_S)
    finally:
        for p in procs:
            p.kill()
            await p.wait()
    assert idle.ok and busy.ok and idle.metrics and busy.metrics
    assert busy.metrics.cpu_busy_pct >= 85.0 and busy.metrics.cpu_min_pct >= 70.0
    assert (
        busy.metrics.cpu_busy_pct > idle.metrics.cpu_busy_pct + 10 or idle.metrics.cpu_busy_pct > 85
    )


async def test_disk_writes_show_up(real_sshd: RealSshd, tmp_path: Path) -> None:
    disk = tmp_device()
    quiet = await probe_host(target(real_sshd), "linux", WINDOW_S, disk=disk)
    dd = await asyncio.create_subprocess_exec(
        *("dd", "if=/dev/zero", f"of={tmp_path / 'fill'}", "bs=1M", "count=4000", "oflag=dsync"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        loud = await probe_host(target(real_sshd), "linux", WINDOW_S, disk=disk)
    finally:
        dd.kill()
        await dd.wait()
    assert quiet.ok and loud.ok and quiet.metrics and loud.metrics, (quiet.error, loud.error)
    assert loud.metrics.disks == (disk,)
    assert loud.metrics.disk_write_bps > 4 * 1024 * 1024
    assert loud.metrics.disk_write_bps > quiet.metrics.disk_write_bps


async def test_changed_key_refused_by_known_hosts(real_sshd: RealSshd, tmp_path: Path) -> None:
    kh = tmp_path / "known_hosts"
    kh.write_text(f"[{real_sshd.host}]:{real_sshd.port} {real_sshd.other_key_pub}\n")
    result = await probe_host(target(real_sshd, known_hosts=str(kh)), "linux", WINDOW_S)
    assert not result.ok and result.error_kind == "hostkey"
    now = fingerprint_of(real_sshd.host_key_pub)
    was = fingerprint_of(real_sshd.other_key_pub)
    assert result.finding and f"host key changed: was {was}, now {now}" in result.finding
    assert result.fingerprint == now


async def test_unknown_host_refused_without_finding(real_sshd: RealSshd, tmp_path: Path) -> None:
    kh = tmp_path / "known_hosts"
    kh.write_text("")
    result = await probe_host(target(real_sshd, known_hosts=str(kh)), "linux", WINDOW_S)
    assert result.error_kind == "hostkey" and result.finding is None
    assert "not in known_hosts" in (result.error or "")


async def test_tofu_returns_key_to_pin_then_pin_holds(real_sshd: RealSshd) -> None:
    first = await probe_host(
        target(real_sshd, known_hosts=None, trust_on_first_use=True), "linux", WINDOW_S
    )
    assert first.ok and first.host_key == real_sshd.host_key_pub
    pinned = await probe_host(
        target(real_sshd, known_hosts=None, pinned_key=first.host_key), "linux", WINDOW_S
    )
    assert pinned.ok and pinned.finding is None


async def test_tofu_never_overrides_a_known_hosts_entry(
    real_sshd: RealSshd, tmp_path: Path
) -> None:
    kh = tmp_path / "known_hosts"
    kh.write_text(f"[{real_sshd.host}]:{real_sshd.port} {real_sshd.other_key_pub}\n")
    changed = await probe_host(
        target(real_sshd, known_hosts=str(kh), trust_on_first_use=True), "linux", WINDOW_S
    )
    assert changed.error_kind == "hostkey" and changed.finding
    kh.write_text("")
    first = await probe_host(
        target(real_sshd, known_hosts=str(kh), trust_on_first_use=True), "linux", WINDOW_S
    )
    assert first.ok and first.fingerprint == fingerprint_of(real_sshd.host_key_pub)


async def test_pinned_key_changed_is_a_finding(real_sshd: RealSshd) -> None:
    result = await probe_host(
        target(real_sshd, trust_on_first_use=True, pinned_key=real_sshd.other_key_pub),
        "linux",
        WINDOW_S,
    )
    assert not result.ok and result.error_kind == "hostkey" and result.metrics is None
    was = fingerprint_of(real_sshd.other_key_pub)
    now = fingerprint_of(real_sshd.host_key_pub)
    assert result.finding is not None
    assert f"host key changed: was {was}, now {now}" in result.finding


async def test_wrong_password_is_auth_and_never_leaks(
    real_sshd: RealSshd, caplog: pytest.LogCaptureFixture
) -> None:
    """At asyncssh's default debug level; level 3 dumps packets, password included: never use it."""
    secret = "s3cr3t-Pa55-do-not-log"
    caplog.set_level(logging.DEBUG)
    t = target(real_sshd, client_keys=None, password=secret, passphrase=secret + "x")
    result = await probe_host(t, "linux", WINDOW_S)
    assert result.error_kind == "auth"
    for text in (repr(t), str(t), repr(result), result.error or "", caplog.text):
        assert secret not in text


async def test_encrypted_key_wrong_passphrase_never_leaks(
    real_sshd: RealSshd, tmp_path: Path
) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    path = tmp_path / "enc"
    key.write_private_key(str(path), "pkcs8-pem", passphrase="right-one")
    t = target(real_sshd, client_keys=(str(path),), passphrase="wrong-secret-phrase")
    result = await probe_host(t, "linux", WINDOW_S)
    assert result.error_kind == "auth"
    assert "wrong-secret-phrase" not in repr(result) + repr(t)


async def test_refused_and_timeout_kinds() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    refused = await probe_host(SshTarget("127.0.0.1", port, "u", known_hosts="/dev/null"), "linux")
    assert refused.error_kind == "refused"

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        hung = await probe_host(
            SshTarget("127.0.0.1", port, "u", known_hosts="/dev/null", auth_timeout=0.3), "linux"
        )
    finally:
        server.close()
    assert hung.error_kind == "timeout"


async def test_non_ssh_answer_is_garbage() -> None:
    async def http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(http, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        r = await probe_host(SshTarget("127.0.0.1", port, "u", known_hosts="/dev/null"), "linux")
    finally:
        server.close()
    assert not r.ok and r.error_kind in ("garbage", "refused"), r


async def test_command_failure_kind(real_sshd: RealSshd) -> None:
    r = await probe_host(target(real_sshd), "windows", WINDOW_S)
    assert r.error_kind == "command" and "exited" in (r.error or "")


async def test_pool_reuses_and_reconnects(real_sshd: RealSshd) -> None:
    pool = SshPool(keepalive_interval=5)
    t = target(real_sshd)
    try:
        first = await pool.probe(t, "linux", WINDOW_S)
        second = await pool.probe(t, "linux", WINDOW_S)
        assert first.ok and second.ok
        assert first.connect_ms is not None and second.connect_ms is None
        assert pool.open_connections == 1
        pool._conns[t].conn.abort()
        third = await pool.probe(t, "linux", WINDOW_S)
        assert third.ok, third.error
        assert third.connect_ms is not None
    finally:
        await pool.close()
    assert pool.open_connections == 0


async def test_pool_failure_is_a_result(real_sshd: RealSshd) -> None:
    pool = SshPool()
    try:
        bad = await pool.probe(
            target(real_sshd, trust_on_first_use=True, pinned_key=real_sshd.other_key_pub),
            "linux",
            WINDOW_S,
        )
    finally:
        await pool.close()
    assert isinstance(bad, HostResult) and bad.error_kind == "hostkey" and bad.finding
    assert bad.fingerprint == fingerprint_of(real_sshd.host_key_pub)


async def test_bad_arguments_are_a_result_not_an_exception() -> None:
    t = SshTarget("127.0.0.1", 1, "u", known_hosts="/dev/null")
    r = await probe_host(t, "linux", 5.0, disk="sda; reboot")
    assert r.error_kind == "command" and "unsafe" in (r.error or "")
    r = await probe_host(t, "solaris", 5.0)  # type: ignore[arg-type]
    assert r.error_kind == "command"
