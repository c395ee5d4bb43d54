"""Attacks on the daemon's socket by a local client, each run against a real `nls --daemon`
process (and against the embedded path where it exists): SQL that reads files or writes, queries
that never end or never stop growing, oversized frames, and writes whose meaning a client tries
to decide. Each test says what a user would notice when the boundary holds."""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.rawclient import RawClient, arrow_rows, frame
from tests.test_daemon import NLS, ROOT, DaemonProcess, Site, _env, field_of, nls, site

__all__ = ["site"]

SECRET = "s3cret-smtp-Pa55"
LONG_QUERY = "SELECT sum(range) FROM range(10000000000000)"


def add_sections(config: Path, text: str) -> None:
    """Append TOML tables (after every [[servers]], which is fine for TOML)."""
    config.write_text(config.read_text() + "\n" + text.strip() + "\n")


def socket_of(daemon: DaemonProcess) -> Path:
    return Path(field_of(daemon.ready, "socket"))


def vm_hwm_mb(pid: int) -> float:
    """Peak resident memory of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


async def in_thread(fn: Any, *args: Any) -> Any:
    """Blocking raw-socket work off the loop that serves the fleet and the mail."""
    return await asyncio.to_thread(fn, *args)


def _file_attacks(tmp: Path) -> list[str]:
    return [
        "SELECT * FROM read_text('/etc/passwd')",
        "SELECT content FROM read_text('/proc/self/environ')",
        "SELECT * FROM read_csv('/etc/passwd', header = false)",
        "SELECT * FROM read_blob('/etc/hostname')",
        "SELECT * FROM glob('/etc/*')",
        "SELECT * FROM '/etc/passwd'",
        f"SELECT * FROM read_text('{tmp}/../site.duckdb')",
        f"COPY (SELECT 42) TO '{tmp}/copied.csv'",
        f"EXPLAIN ANALYZE COPY (SELECT 42 AS pwned) TO '{tmp}/explained.csv'",
        "SELECT * FROM query('SELECT * FROM read_text(''/etc/passwd'')')",
        f"ATTACH '{tmp}/other.duckdb' AS other",
        "INSTALL httpfs",
    ]


_WRITE_ATTACKS = [
    "EXPLAIN ANALYZE CREATE TABLE pwned AS SELECT 1 AS x",
    "EXPLAIN ANALYZE UPDATE outbox SET status = 'sent' WHERE status <> 'sent'",
    "EXPLAIN ANALYZE DELETE FROM samples",
    "WITH d AS (DELETE FROM samples RETURNING *) SELECT count(*) FROM d",
    "WITH d AS (UPDATE alert_state SET failures = 0 RETURNING *) SELECT count(*) FROM d",
    "WITH d AS (INSERT INTO findings VALUES (now(), 'x', 'x', 'x') RETURNING *) SELECT * FROM d",
    "SELECT * FROM (WITH d AS (DELETE FROM cycles RETURNING *) SELECT count(*) FROM d)",
    "SELECT 1; DELETE FROM samples",
    "SET threads = 1",
    "SET memory_limit = '10MB'",
    "RESET enable_external_access",
    "PRAGMA enable_profiling",
    "CALL checkpoint()",
    "SELECT * FROM checkpoint()",
    "SELECT * FROM query('DELETE FROM samples')",
    "ATTACH ':memory:' AS scratch",
    "BEGIN TRANSACTION",
    "COMMIT",
    "CREATE TEMP TABLE t AS SELECT 1",
    "CREATE MACRO m() AS 1",
]

_STATE = (
    "SELECT (SELECT count(*) FROM samples) AS samples, (SELECT count(*) FROM cycles) AS cycles, "
    "(SELECT count(*) FROM outbox WHERE status = 'sent') AS sent, "
    "(SELECT coalesce(sum(failures), 0) FROM alert_state) AS failures, "
    "(SELECT count(*) FROM findings) AS findings, "
    "(SELECT count(*) FROM duckdb_tables() WHERE table_name = 'pwned') AS pwned"
)


async def _sql(config: Path, query: str, *extra: str) -> tuple[int, str, str]:
    return await nls("--config", str(config), "sql", query, *extra)


async def _refused_everywhere(s: Site, sock: Path | None, tmp: Path) -> None:
    """Every attack is refused (exit 2 on the CLI, an error frame on a raw socket), and nothing
    leaked or was written."""
    for query in [*_file_attacks(tmp), *_WRITE_ATTACKS]:
        code, out, err = await _sql(s.config, query, "--format", "csv")
        assert code == 2, (query, code, out, err)
        assert "root:" not in out and SECRET not in out + err, query
        assert "Traceback" not in err, err
        assert err.startswith("nls: ") and len(err.strip().splitlines()) == 1, err
        if sock is not None:
            header, _ = await in_thread(_raw_sql, sock, query)
            assert header["t"] == "error", (query, header)
            assert header["e"] in ("ReadOnlyError", "StoreError"), header
    assert not os.listdir(tmp), "a client statement wrote a file"


def _raw_sql(sock: Path, query: str) -> tuple[dict[str, Any], list[bytes]]:
    with RawClient(sock) as client:
        assert client.hello()["t"] == "welcome"
        return client.call("sql", query=query)


async def _state(config: Path) -> str:
    code, out, err = await _sql(config, _STATE, "--format", "csv")
    assert code == 0, err
    return out


async def test_client_sql_reads_the_store_and_nothing_else(
    site: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NLS_TEST_SMTP_PASSWORD", SECRET)
    s: Site = await site(interval="quiet")
    s.fleet.set_fault("crest-0002", "camera_offline", camera=1)
    daemon = await s.daemon()
    await daemon.cycles(1)
    for _ in range(2):  # strikes two and three: an alert mail, sent
        assert (await nls("--config", str(s.config), "check", "--server", "crest-0002"))[0] == 1
    await s.smtp.inbox.wait_for(1)
    await daemon.line("sent to")  # logged once the outbox has marked it sent
    before = await _state(s.config)
    assert before.splitlines()[1].split(",")[2] == "1", before
    target = tmp_path / "out"
    target.mkdir()

    await _refused_everywhere(s, socket_of(daemon), target)
    assert await _state(s.config) == before

    ok = [
        "SHOW TABLES",
        "DESCRIBE samples",
        "SUMMARIZE cycles",
        "EXPLAIN ANALYZE SELECT count(*) FROM samples",
        "WITH c AS (SELECT * FROM cycles) SELECT count(*) FROM c",
        "SELECT * FROM range(3) r, unnest([1, 2]) u",
        "SELECT count(*) FROM duckdb_tables()",
        "PRAGMA show_tables",
    ]
    for query in ok:
        code, _, err = await _sql(s.config, query, "--format", "csv")
        assert code == 0, (query, err)

    daemon.send(signal.SIGTERM)
    assert await daemon.wait() == 0
    assert "Traceback" not in daemon.log and SECRET not in daemon.log

    # Embedded (no daemon): the same statements are refused on the process's own connection.
    before = await _state(s.config)
    await _refused_everywhere(s, None, target)
    assert await _state(s.config) == before


async def test_a_client_that_goes_away_stops_its_query(site: Any) -> None:
    s: Site = await site(interval="quiet")
    daemon = await s.daemon()
    sock = socket_of(daemon)

    client = await in_thread(RawClient, sock)
    assert (await in_thread(client.hello))["t"] == "welcome"
    call = {"t": "call", "id": 1, "m": "sql", "a": {"query": LONG_QUERY}}
    await in_thread(client.send, frame(call))
    await daemon.line("event=query_started")
    await in_thread(client.close)  # a closed socket: the daemon stops the query
    stopped = await daemon.line("event=query_stopped")
    assert "reason=client_gone" in stopped

    # Ctrl-C on `nls sql`: the CLI goes away, its query stops, the next query runs at once.
    proc = await asyncio.create_subprocess_exec(
        *NLS, "--config", str(s.config), "sql", LONG_QUERY,
        cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    await daemon.line("event=query_started")
    proc.send_signal(signal.SIGINT)
    async with asyncio.timeout(30):
        _, interrupted = await proc.communicate()
    assert proc.returncode == 130, interrupted
    assert interrupted.decode().strip() == "nls: interrupted", interrupted
    stopped = await daemon.line("event=query_stopped")
    assert "reason=cancelled" in stopped or "reason=client_gone" in stopped

    code, out, err = await _sql(s.config, "SELECT 42 AS answer", "--format", "csv")
    assert (code, out.splitlines()) == (0, ["answer", "42"]), err
    await daemon.line("event=query_finished")

    # A cancel frame (what RemoteSource sends when its caller is cancelled) stops it too.
    with RawClient(sock) as c:
        c.hello()
        c.send(frame({"t": "call", "id": 7, "m": "sql", "a": {"query": LONG_QUERY}}))
        await daemon.line("event=query_started")
        c.send(frame({"t": "cancel", "id": 7}))
        header, _ = c.recv()
        assert (header["t"], header["id"]) == ("error", 7)
    assert "reason=cancelled" in await daemon.line("event=query_stopped")

    daemon.send(signal.SIGTERM)
    assert await daemon.wait() == 0


async def test_every_query_has_a_time_limit_daemon_and_embedded(site: Any) -> None:
    s: Site = await site(interval="quiet")
    add_sections(s.config, '[sql]\ntimeout = "1s"\nconcurrent = 1')
    daemon = await s.daemon()
    code, _, err = await _sql(s.config, LONG_QUERY)
    assert code == 1 and "query stopped after 1 s" in err and "[sql] timeout" in err, err
    assert "reason=timeout" in await daemon.line("event=query_stopped")

    # A client that asks for a big result and never reads it holds its statement (and, with
    # concurrent = 1, everyone else's turn) only until the time limit.
    with RawClient(socket_of(daemon)) as stuck:
        stuck.hello()
        call = {"t": "call", "id": 1, "m": "sql", "a": {"query": "SELECT * FROM range(100000000)"}}
        stuck.send(frame(call))
        assert "reason=timeout" in await daemon.line("event=query_stopped")
        code, out, err = await _sql(s.config, "SELECT 42 AS answer", "--format", "csv")
        assert (code, out.splitlines()) == (0, ["answer", "42"]), err
    daemon.send(signal.SIGTERM)
    assert await daemon.wait() == 0

    code, _, err = await _sql(s.config, LONG_QUERY)  # embedded
    assert code == 1 and "query stopped after 1 s" in err, err


async def test_sigterm_interrupts_running_queries_and_the_daemon_exits(site: Any) -> None:
    s: Site = await site(interval="quiet")
    daemon = await s.daemon()
    sock = socket_of(daemon)
    clients = [await in_thread(RawClient, sock) for _ in range(3)]
    for n, client in enumerate(clients):
        await in_thread(client.hello)
        call = {"t": "call", "id": n + 1, "m": "sql", "a": {"query": LONG_QUERY}}
        await in_thread(client.send, frame(call))
        await daemon.line("event=query_started")
    daemon.send(signal.SIGTERM)
    assert await daemon.wait(limit=60) == 0, daemon.log
    assert "event=stopped" in daemon.log
    for client in clients:
        client.close()


async def test_results_are_capped_streamed_and_say_so(site: Any) -> None:
    s: Site = await site(interval="quiet")
    add_sections(s.config, '[sql]\nmax_rows = 50000\nmax_bytes = "4MB"')
    daemon = await s.daemon()
    assert daemon.proc is not None
    code, out, err = await _sql(s.config, "SELECT * FROM range(200000000)", "--format", "csv")
    assert code == 0, err
    assert len(out.splitlines()) == 50001
    assert "result cut at 50,000 rows" in err and "[sql] max_rows" in err, err
    assert "WHERE" in err  # how to narrow it

    code, out, err = await _sql(
        s.config, "SELECT repeat('x', 1000) AS wide FROM range(1000000)", "--format", "csv"
    )
    assert code == 0 and "result cut at 4 MB" in err and "[sql] max_bytes" in err, err
    assert 3000 < len(out.splitlines()) < 4200

    # A raw client sees the cut in the result frame, after the rows came in several chunks.
    header, blobs = await in_thread(_raw_sql, socket_of(daemon), "SELECT * FROM range(200000000)")
    assert header["t"] == "result" and "cut at 50,000 rows" in header["r"]["cut"]
    assert arrow_rows(blobs) == 50000
    assert vm_hwm_mb(daemon.proc.pid) < 1000, "the daemon built a huge result in memory"

    code, out, _ = await _sql(s.config, "SELECT 1 AS one", "--format", "csv")
    assert out.splitlines() == ["one", "1"]
    daemon.send(signal.SIGTERM)
    assert await daemon.wait() == 0

    # Embedded: the same limits, the same message.
    code, out, err = await _sql(s.config, "SELECT * FROM range(200000000)", "--format", "csv")
    assert code == 0 and len(out.splitlines()) == 50001 and "cut at 50,000 rows" in err


async def test_oversized_inbound_frames_are_refused_before_they_are_read(site: Any) -> None:
    s: Site = await site(interval="quiet")
    daemon = await s.daemon()
    assert daemon.proc is not None
    sock = socket_of(daemon)

    def attack(prefix: bytes) -> dict[str, Any] | None:
        """Claim a huge frame, send a megabyte of it: the daemon answers and hangs up at once
        (the client may even fail to send the rest), instead of waiting for the gigabyte."""
        with RawClient(sock, timeout=30) as c:
            c.hello()
            try:
                c.send(prefix + b"x" * (1 << 20))
                header, _ = c.recv()
            except (ConnectionError, OSError):
                return None
            with pytest.raises((ConnectionError, OSError)):
                c.recv()
            return header

    big_blob = (100).to_bytes(4, "big") + (1 << 30).to_bytes(4, "big")
    big_header = (512 << 20).to_bytes(4, "big") + (0).to_bytes(4, "big")
    for prefix in (big_blob, big_blob, big_blob, big_header):
        answer = await in_thread(attack, prefix)
        assert answer is None or "too large" in answer["msg"], answer
    assert vm_hwm_mb(daemon.proc.pid) < 600

    code, out, err = await _sql(s.config, "SELECT 1 AS one", "--format", "csv")
    assert (code, out.splitlines()) == (0, ["one", "1"]), err
    daemon.send(signal.SIGTERM)
    assert await daemon.wait() == 0


def _raw(sock: Path, steps: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    with RawClient(sock) as c:
        assert c.hello()["t"] == "welcome"
        return [c.call(method, **args)[0] for method, args in steps]


async def test_the_daemon_decides_what_a_maintenance_write_means(site: Any) -> None:
    s: Site = await site(interval="quiet")
    daemon = await s.daemon()
    sock = socket_of(daemon)
    now = datetime.now(UTC)
    month_ago = (now - timedelta(days=30)).isoformat()
    window = {
        "id": 2**63 - 1,
        "scope_kind": "server",
        "scope_id": "crest-0001",
        "reason": "retroactive cover-up",
        "announced_at": month_ago,
        "created_by": "somebody-else",
        "starts": month_ago,
        "ends": (now - timedelta(days=29)).isoformat(),
    }
    first, second, future = await in_thread(
        _raw,
        sock,
        [
            ("maintenance_add", {"window": window}),
            ("maintenance_add", {"window": {**window, "id": 5, "reason": "second"}}),
            (
                "maintenance_add",
                {"window": {**window, "announced_at": (now + timedelta(days=2)).isoformat()}},
            ),
        ],
    )
    assert first["t"] == "result", first
    assert first["r"]["id"] == 1 and second["r"]["id"] == 2
    assert first["r"]["created_by"] == getpass.getuser() != "somebody-else"
    recorded = datetime.fromisoformat(first["r"]["recorded_at"])
    assert abs((recorded - now).total_seconds()) < 600
    assert datetime.fromisoformat(first["r"]["announced_at"]) < recorded - timedelta(days=29)
    assert future["t"] == "error" and "future" in future["msg"], future

    code, out, err = await nls("--config", str(s.config), "maintenance", "list")
    assert code == 0, err
    assert "RECORDED" in out.splitlines()[0] and "ANNOUNCED" in out.splitlines()[0]
    line = next(x for x in out.splitlines() if "retroactive" in x)
    assert recorded.astimezone().strftime("%Y-%m-%d") in line

    # The CLI's own add goes through the same path: next id, author from the process.
    code, out, err = await nls(
        "--config", str(s.config), "maintenance", "add", "--server", "crest-0002",
        "--start", "2030-01-01 00:00", "--end", "2030-01-02 00:00", "--reason", "third",
    )  # fmt: skip
    assert code == 0 and out.startswith("added maintenance window 3"), (out, err)
    (removed,) = await in_thread(_raw, sock, [("maintenance_remove", {"window_id": 1})])
    assert removed["t"] == "result", removed
    _, out, _ = await _sql(
        s.config,
        "SELECT id, created_by, removed_by FROM maintenance ORDER BY id",
        "--format",
        "csv",
    )
    me = getpass.getuser()
    assert out.splitlines()[1:] == [f"1,{me},{me}", f"2,{me},", f"3,{me},"], out
    daemon.send(signal.SIGTERM)
    assert await daemon.wait() == 0
    assert "Traceback" not in daemon.log


async def test_check_now_probes_each_server_once(site: Any) -> None:
    s: Site = await site(interval="quiet")
    daemon = await s.daemon()
    await daemon.cycles(1)
    sock = socket_of(daemon)
    (once,) = await in_thread(_raw, sock, [("check_now", {"server_ids": ["crest-0001"]})])
    (many,) = await in_thread(_raw, sock, [("check_now", {"server_ids": ["crest-0001"] * 50})])
    assert many["t"] == "result", many
    assert len(many["r"]["samples"]) == len(once["r"]["samples"]) > 0, (once, many)
    assert [r["server_id"] for r in many["r"]["rows"]] == ["crest-0001"]
    _, out, err = await _sql(
        s.config,
        "SELECT count(*) AS n FROM samples WHERE cycle = (SELECT max(id) FROM cycles)",
        "--format",
        "csv",
    )
    assert out.splitlines()[1] == str(len(once["r"]["samples"])), (out, err)
    daemon.send(signal.SIGTERM)
    assert await daemon.wait() == 0


async def test_bad_request_fields_get_an_error_frame_not_a_traceback(site: Any) -> None:
    s: Site = await site(interval="quiet")
    daemon = await s.daemon()
    await daemon.cycles(1)
    naive = datetime(2026, 1, 1).isoformat()
    bad: list[tuple[str, dict[str, Any]]] = [
        ("outbox", {"limit": -1}),
        ("outbox", {"limit": 10**30}),
        ("outbox", {"limit": 0}),
        ("outbox", {"limit": "ten"}),
        ("outbox", {}),
        ("history", {"server_id": "crest-0001", "check": "cpu", "since": naive}),
        ("history", {"server_id": "x" * 100_000, "check": "cpu", "since": naive + "Z"}),
        ("maintenance_remove", {"window_id": -5}),
        ("maintenance_remove", {"window_id": 2**70}),
        ("check_now", {"server_ids": [1, 2]}),
        ("check_now", {"server_ids": ["no-such-server"]}),
        ("server_detail", {"server_id": None}),
        ("sql", {"query": ""}),
        ("sql", {"query": 42}),
        ("maintenance_add", {"window": {"id": 0}}),
        ("no_such_method", {}),
    ]
    answers = await in_thread(_raw, socket_of(daemon), bad)
    for (method, args), answer in zip(bad, answers, strict=True):
        assert answer["t"] == "error", (method, args, answer)
        assert answer["e"] in (
            "BadRequest",
            "NotFound",
            "MaintenanceError",
            "ReadOnlyError",
        ), (
            method,
            answer,
        )
    # The connection survived all of it.
    (ok,) = await in_thread(_raw, socket_of(daemon), [("outbox", {"limit": 5})])
    assert ok["t"] == "result"
    daemon.send(signal.SIGTERM)
    assert await daemon.wait() == 0
    assert "Traceback" not in daemon.log and "level=error" not in daemon.log, daemon.log


def test_rawclient_script_prints_one_answer_per_step(tmp_path: Path) -> None:
    """The script form used to attack as another Unix user reports an absent daemon plainly."""
    out = subprocess.run(
        [sys.executable, "-m", "tests.rawclient", str(tmp_path / "none.sock"), '[{"hello": null}]'],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert json.loads(out)["t"] == "connect_error"
    assert os.path.exists(ROOT / "tests" / "rawclient.py")
