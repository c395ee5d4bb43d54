"""Bad input that used to escape as tracebacks or hide its cause: a CSV inventory that is not
UTF-8, a damaged write-ahead log, a full disk, an absurd interval and a port in an address."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.test_boundary import add_sections
from tests.test_daemon import NLS, ROOT, Site, _env, nls, site

__all__ = ["site"]

CONFIG = """
[eocortex]
password_env = "NLS_TEST_PW"

[inventory]
csv = "servers.csv"

[[installers]]
id = "inst"
name = "Installer"
emails = ["a@inst.example"]

[[customers]]
id = "cust"
name = "Customer"
installer = "inst"
"""


async def _config_check(folder: Path, csv: bytes, extra: str = "") -> tuple[int, str, str]:
    (folder / "servers.csv").write_bytes(csv)
    (folder / "nls.toml").write_text(CONFIG + extra)
    return await nls("--config", str(folder / "nls.toml"), "config", "check")


async def test_an_inventory_that_is_not_utf8_names_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NLS_TEST_PW", "x")
    header = "id,name,customer,address\n"
    good = "srv-1,Entrée,cust,127.0.0.2\n"
    code, out, err = await _config_check(
        tmp_path, (header + "srv-0,Hall,cust,127.0.0.3\n" + good).encode("latin-1")
    )
    assert code == 2, (out, err)
    assert f"{tmp_path / 'servers.csv'} line 3" in err and "not UTF-8" in err, err
    assert "save it as CSV UTF-8" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1

    code, out, err = await _config_check(tmp_path, (header + good).encode("utf-16"))
    assert code == 2 and "line 1" in err and "UTF-16" in err and "Traceback" not in err, err

    code, out, err = await _config_check(tmp_path, (header + good).encode("utf-8-sig"))
    assert code == 0, err  # Excel's "CSV UTF-8" (with a BOM) is fine


async def test_interval_and_address_are_bounded_in_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NLS_TEST_PW", "x")
    csv = b"id,customer,address\nsrv-1,cust,127.0.0.2\n"
    code, _, err = await _config_check(tmp_path, csv, "\n[monitor]\ninterval = 1e19\n")
    assert code == 2 and "monitor.interval" in err and "86400" in err, err
    code, _, err = await _config_check(tmp_path, csv, '\n[monitor]\ninterval = "2d"\n')
    assert code == 2 and "monitor.interval" in err, err
    code, _, err = await _config_check(
        tmp_path, b"id,customer,address\nsrv-1,cust,127.66.0.99:99999\n"
    )
    assert code == 2 and "servers.csv line 2" in err and "address" in err, err
    assert "port 99999 is not 1-65535" in err
    code, _, err = await _config_check(tmp_path, b"id,customer,address\nsrv-1,cust,bad host!\n")
    assert code == 2 and "is not a host name or IP address" in err, err


def _corrupt_wal(database: Path) -> None:
    """Flip one byte of the WAL where DuckDB then refuses to replay it (found on a copy, so the
    real files are only touched once)."""
    wal = database.with_name(database.name + ".wal")
    original = wal.read_bytes()
    assert len(original) > 64, "no WAL to damage"
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / database.name
        for offset in range(40, len(original), 7):
            shutil.copy(database, copy)
            damaged = bytearray(original)
            damaged[offset] ^= 0x5A
            copy.with_name(copy.name + ".wal").write_bytes(damaged)
            try:
                duckdb.connect(str(copy)).close()
            except duckdb.Error as exc:
                if "Corrupt WAL" in str(exc):
                    wal.write_bytes(damaged)
                    return
            for leftover in Path(scratch).iterdir():
                leftover.unlink()
    raise AssertionError("no single-byte damage made DuckDB refuse the WAL")


async def test_a_damaged_wal_is_one_line_naming_the_file_and_what_to_do(site: Any) -> None:
    s: Site = await site(interval="1s")
    daemon = await s.daemon()
    await daemon.cycles(2)
    daemon.send(signal.SIGKILL)  # no checkpoint: the last cycles live only in the WAL
    await daemon.wait()
    _corrupt_wal(s.database)
    wal = f"{s.database}.wal"

    for command in (["sql", "SELECT count(*) FROM samples"], ["--daemon"], ["check"]):
        code, out, err = await nls("--config", str(s.config), *command)
        assert code == 1, (command, out, err)
        assert "Traceback" not in err and "_duckdb" not in err, err
        line = next(x for x in err.splitlines() if wal in x)
        assert "damaged" in line and f"move {Path(wal).name} aside" in line, err


@pytest.fixture
def small_disk() -> Any:
    """A 24 MB tmpfs (needs root to mount; skipped otherwise, a failure under CI=true)."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        if os.environ.get("CI") == "true":
            pytest.fail("the full-disk test needs root to mount a tmpfs")
        pytest.skip("needs root to mount a tmpfs")
    folder = Path(tempfile.mkdtemp(prefix="nls-disk-", dir="/tmp"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
        folder.rmdir()


async def test_a_full_disk_logs_its_cause_once_then_recovers(site: Any, small_disk: Path) -> None:
    s: Site = await site(interval="1s")
    database = small_disk / "fleet.duckdb"
    s.config.write_text(s.config.read_text().replace(str(s.database), str(database)))
    daemon = await s.daemon()
    await daemon.cycles(2)
    stats = os.statvfs(small_disk)
    filler = small_disk / "filler"
    with filler.open("wb") as out:  # take every free byte
        out.write(b"\0" * (stats.f_bavail * stats.f_frsize))

    await daemon.line("event=cycle_failed")
    probe = s.fleet.server("crest-0001")
    seen = len(probe.requests)
    async with asyncio.timeout(60):  # a few more slots come and fail while the disk is full
        while len(probe.requests) < seen + 3 * max(1, len(probe.requests) // 4):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    failures = [x for x in daemon.lines if "event=cycle_failed" in x]
    assert len(failures) == 1, failures
    assert "No space left on device" in failures[0], failures[0]
    assert "cannot rollback" not in daemon.log and "Traceback" not in daemon.log

    filler.unlink()
    recovered = await daemon.line("event=cycle_recovered")
    assert "failed_batches=" in recovered
    await daemon.cycles(1)
    daemon.send(signal.SIGTERM)
    assert await daemon.wait() == 0, daemon.log


async def test_a_socket_group_that_does_not_exist_is_one_line(site: Any) -> None:
    """[access] socket_group names a group the daemon chowns its socket to: a missing one stops
    `nls --daemon` with the group and the key to fix, exit 2, and no socket left behind."""
    s: Site = await site(interval="quiet")
    add_sections(s.config, '[access]\nsocket_group = "nlst-no-such-group"')
    proc = await asyncio.create_subprocess_exec(
        *NLS,
        "--config",
        str(s.config),
        "--daemon",
        cwd=ROOT,
        env=_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(60):
            _, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text = err.decode()
    assert proc.returncode == 2, text
    assert "Traceback" not in text
    last = text.strip().splitlines()[-1]
    assert last.startswith("nls: ") and "'nlst-no-such-group' does not exist" in last, text
    assert "[access] socket_group" in last
    assert not os.path.exists(f"{s.database}.sock")  # noqa: ASYNC240 - one stat, after exit
