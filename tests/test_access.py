"""Roles from the kernel: clients running as other Unix accounts against a real daemon.

The daemon (run by the suite's user, root) maps each peer's uid and groups to a role with the
[access] section: an ops group, one installer's staff by user name, another's by group, and an
account with no role at all. Every client here is a separate process run as that account, so its
credentials are the kernel's, not something it says.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from console.store.database import Store
from tests.test_boundary import add_sections, socket_of
from tests.test_daemon import ROOT, Site, site
from tests.unixusers import ACCESS, ALPHA, BETA, NOBODY, OPS, PYTHON, as_user, env, nls_command
from tests.unixusers import require_users as _require_users

__all__ = ["site"]


def require_users() -> None:
    _require_users()


async def run_as(
    user: str, *argv: str, extra: dict[str, str] | None = None
) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *as_user(user, *argv),
        cwd="/",
        env={**env(), **(extra or {})},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    async with asyncio.timeout(120):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def raw_as(user: str, sock: Path, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Play raw-socket steps (tests/rawclient.py) as `user`; one answer per step."""
    script = str(ROOT / "tests" / "rawclient.py")
    code, out, err = await run_as(user, PYTHON, script, str(sock), json.dumps(steps))
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()]


async def open_site(site: Any) -> tuple[Site, Path]:
    """A daemon whose folder other accounts may enter (the store itself stays 0600)."""
    s: Site = await site(interval="1s")
    add_sections(s.config, ACCESS)
    os.chmod(s.config.parent, 0o755)
    s.fleet.set_fault("crest-0001", "camera_offline", camera=0)  # secutec
    s.fleet.set_fault("crest-0002", "camera_offline", camera=0)  # alarmes-wallonie
    daemon = await s.daemon()
    await s.smtp.inbox.wait_for(2)
    return s, socket_of(daemon)


async def test_roles_come_from_the_peers_unix_credentials(site: Any) -> None:
    require_users()
    s, sock = await open_site(site)
    daemon = s.daemons[0]
    assert oct(os.stat(sock).st_mode & 0o777) == "0o660"
    assert oct(os.stat(s.database).st_mode & 0o777) == "0o600"

    # Installer staff by user name: only secutec's servers and mails, no SQL, no widening.
    alpha = await raw_as(
        ALPHA,
        sock,
        [
            {"hello": None},
            {"call": "snapshot"},
            {"call": "server_detail", "args": {"server_id": "crest-0002"}},
            {"call": "outbox", "args": {"limit": 100}},
            {"call": "sql", "args": {"query": "SELECT * FROM outbox"}},
            {"call": "maintenance_add", "args": {"window": _window("crest-0002")}},
            {"call": "maintenance_add", "args": {"window": _window("crest-0001")}},
        ],
    )
    welcome, snapshot, detail, mails, sql, foreign, own = alpha
    assert welcome["r"]["role"] == "installer" and welcome["r"]["installer"] == "secutec"
    assert welcome["r"]["user"] == ALPHA
    assert {r["installer_id"] for r in snapshot["r"]["rows"]} == {"secutec"}
    assert detail["t"] == "error" and detail["e"] == "NotFound"
    assert mails["r"] and {m["installer"] for m in mails["r"]} == {"secutec"}
    assert sql["t"] == "error" and sql["e"] == "AccessDenied" and "SQL" in sql["msg"]
    assert foreign["t"] == "error" and foreign["e"] == "AccessDenied"
    assert own["r"]["created_by"] == ALPHA  # not what the client claimed

    (widen,) = await raw_as(ALPHA, sock, [{"hello": "alarmes-wallonie"}])
    assert widen["t"] == "error" and widen["e"] == "AccessDenied", widen
    assert "cannot open installer 'alarmes-wallonie'" in widen["msg"]

    # Installer staff by group.
    (welcome,) = await raw_as(BETA, sock, [{"hello": None}])
    assert welcome["r"]["installer"] == "alarmes-wallonie" and welcome["r"]["role"] == "installer"

    # Ops by group: everything, SQL, and may narrow (then no SQL).
    welcome, snapshot, sql = await raw_as(
        OPS,
        sock,
        [{"hello": None}, {"call": "snapshot"}, {"call": "sql", "args": {"query": "SELECT 1"}}],
    )
    assert welcome["r"]["role"] == "ops" and len(snapshot["r"]["rows"]) == 4
    assert sql["t"] == "result" and sql["rows"] == 1
    welcome, sql = await raw_as(
        OPS, sock, [{"hello": "secutec"}, {"call": "sql", "args": {"query": "SELECT 1"}}]
    )
    assert welcome["r"]["installer"] == "secutec" and sql["e"] == "AccessDenied"

    # A mail's bodies: staff read their own installer's mails; another's is as if it did not
    # exist, and a key beyond the wire's bounds is refused before the engine sees it.
    _, everything = await raw_as(
        OPS, sock, [{"hello": None}, {"call": "outbox", "args": {"limit": 100}}]
    )
    key_of = {m["installer"]: m["key"] for m in everything["r"]}
    _, own_mail, other_mail, huge = await raw_as(
        ALPHA,
        sock,
        [
            {"hello": None},
            {"call": "mail", "args": {"key": key_of["secutec"]}},
            {"call": "mail", "args": {"key": key_of["alarmes-wallonie"]}},
            {"call": "mail", "args": {"key": "k" * 10_000}},
        ],
    )
    assert own_mail["r"]["row"]["installer"] == "secutec" and own_mail["r"]["body_text"]
    assert other_mail["t"] == "error" and other_mail["e"] == "NotFound", other_mail
    assert huge["t"] == "error" and huge["e"] == "BadRequest", huge

    # No role: refused at hello, with what to do.
    (refused,) = await raw_as(NOBODY, sock, [{"hello": None}])
    assert refused["t"] == "error" and f"user {NOBODY}" in refused["msg"]
    assert "has no role" in refused["msg"] and "[access]" in refused["msg"]

    # Not in the socket's group: the kernel refuses the connection itself.
    (outside,) = await raw_as("nobody", sock, [{"hello": None}])
    assert outside["t"] == "connect_error" and "Permission denied" in outside["msg"]

    # The CLI as those accounts (through ssh-session, which needs no config): scoped mail list.
    gate = [*nls_command(), "--socket", str(sock), "ssh-session"]
    code, out, err = await run_as(ALPHA, *gate, extra={"SSH_ORIGINAL_COMMAND": "mail list"})
    assert code == 0 and "crest-0001" in out and "crest-0002" not in out, (out, err)
    code, out, err = await run_as(NOBODY, *gate, extra={"SSH_ORIGINAL_COMMAND": "mail list"})
    assert code == 2 and "has no role" in err and not out, (out, err)

    assert "Traceback" not in daemon.log
    assert "event=client_refused" in daemon.log


async def test_incident_calls_are_scoped_checked_and_authored_by_the_peer(site: Any) -> None:
    """Over the socket an installer's staff see only their installer's incidents and add only
    notes and their own messages to them, authored by their account; every argument is checked
    against its bounds before the desk sees it."""
    require_users()
    s, sock = await open_site(site)  # one outage incident each for secutec and alarmes-wallonie
    _, listed = await raw_as(
        OPS, sock, [{"hello": None}, {"call": "incidents", "args": {"where": None, "now": None}}]
    )
    by_installer = {r["incident"]["installer"]: r["incident"]["id"] for r in listed["r"]}
    mine, theirs = by_installer["secutec"], by_installer["alarmes-wallonie"]
    opened_at = datetime.fromisoformat(listed["r"][0]["incident"]["opened_at"])
    this_month = opened_at.astimezone(ZoneInfo("Europe/Brussels")).strftime("%Y-%m")  # policy's

    def event(incident: int, kind: str, text: str = "", **more: Any) -> dict[str, Any]:
        args = {"incident_id": incident, "kind": kind, "text": text, "at": None, **more}
        return {"call": "incident_event", "args": args}

    opening = {"customer": "cust-001", "priority": "P1", "server": None}
    opening |= {"incident_type": "problem", "title": "", "at": None}
    answers = await raw_as(
        ALPHA,
        sock,
        [
            {"hello": None},
            {"call": "incidents", "args": {"where": None, "now": None}},
            {"call": "incident_show", "args": {"incident_id": theirs, "now": None}},
            event(mine, "note", "camera 1 cable replaced"),
            event(mine, "customer-message", "still dark"),
            event(mine, "resolve"),
            event(mine, "note", "back then", at="2026-01-01T00:00:00Z"),
            event(theirs, "note", "not mine"),
            {"call": "incident_open", "args": opening},
            event(mine, "note", "x" * 100_001),
            event(mine, "n" * 65, "x"),
            event(2**70, "note", "x"),
            event(mine, "note", "x", author="claimed"),
            {"call": "incident_stats", "args": {"month": this_month}},
        ],
    )
    welcome, rows, foreign_show, note, said, resolve, backdated, foreign, opened, *rest = answers
    too_long, bad_kind, bad_id, unknown_arg, stats = rest
    assert welcome["r"]["installer"] == "secutec"
    assert [r["incident"]["id"] for r in rows["r"]] == [mine]
    assert foreign_show["e"] == "NotFound" and foreign["e"] == "NotFound"
    assert (note["r"]["author"], note["r"]["kind"]) == (ALPHA, "note")
    assert (said["r"]["author"], said["r"]["kind"]) == (ALPHA, "customer-message")
    assert resolve["e"] == "AccessDenied" and "not 'resolve'" in resolve["msg"]
    assert backdated["e"] == "AccessDenied" and "back-date" in backdated["msg"]
    assert opened["e"] == "AccessDenied" and "cannot open incidents" in opened["msg"]
    for bad, words in [
        (too_long, "'text'"),
        (bad_kind, "'kind'"),
        (bad_id, "'incident_id'"),
        (unknown_arg, "unknown argument 'author'"),
    ]:
        assert bad["t"] == "error" and bad["e"] == "BadRequest" and words in bad["msg"], bad
    month = {"call": "incident_stats", "args": {"month": this_month}}
    _, everyone = await raw_as(OPS, sock, [{"hello": None}, month])
    _, narrowed = await raw_as(OPS, sock, [{"hello": "secutec"}, month])
    assert stats["r"] == narrowed["r"] and len(everyone["r"]) > len(stats["r"]) > 0

    _, shown = await raw_as(
        OPS, sock, [{"hello": None}, {"call": "incident_show", "args": {"incident_id": mine}}]
    )
    assert shown["e"] == "BadRequest" and "missing argument 'now'" in shown["msg"]
    _, shown = await raw_as(
        OPS,
        sock,
        [{"hello": None}, {"call": "incident_show", "args": {"incident_id": mine, "now": None}}],
    )
    assert [(e["author"], e["kind"]) for e in shown["r"]["events"]][-2:] == [
        (ALPHA, "note"),
        (ALPHA, "customer-message"),
    ]
    assert "Traceback" not in s.daemons[0].log


async def test_installer_staff_do_not_read_the_desks_internal_notes(site: Any) -> None:
    """Notes are internal: on their own incident an installer's staff read the desk's replies,
    their own staff's notes and monitoring's fault notes, never an ops note, whether they show
    the incident (the console's incident screen makes this call), list it (the event count) or
    run `nls incident show`. Ops read every note."""
    require_users()
    s, sock = await open_site(site)  # one outage incident each for secutec and alarmes-wallonie
    every = {"call": "incidents", "args": {"where": None, "now": None}}
    _, listed = await raw_as(OPS, sock, [{"hello": None}, every])
    mine = next(r["incident"]["id"] for r in listed["r"] if r["incident"]["installer"] == "secutec")

    def event(kind: str, text: str) -> dict[str, Any]:
        args = {"incident_id": mine, "kind": kind, "text": text, "at": None}
        return {"call": "incident_event", "args": args}

    secret, reply = "customer owes two invoices: no site visit", "a technician comes tomorrow"
    _, wrote_note, wrote_reply = await raw_as(
        OPS, sock, [{"hello": None}, event("note", secret), event("reply", reply)]
    )
    _, theirs = await raw_as(ALPHA, sock, [{"hello": None}, event("note", "cable replaced")])
    assert "r" in wrote_note and "r" in wrote_reply and theirs["r"]["author"] == ALPHA

    now = datetime.now(UTC).isoformat()  # one instant for both views: timers are compared
    show = {"call": "incident_show", "args": {"incident_id": mine, "now": now}}
    at_now = {"call": "incidents", "args": {"where": None, "now": now}}
    _, staff_view, staff_rows = await raw_as(ALPHA, sock, [{"hello": None}, show, at_now])
    _, ops_view, ops_rows = await raw_as(OPS, sock, [{"hello": None}, show, at_now])
    seen = [(e["author"], e["kind"], e["text"]) for e in staff_view["r"]["events"]]
    everything = [(e["author"], e["kind"], e["text"]) for e in ops_view["r"]["events"]]
    assert (OPS, "note", secret) in everything and (OPS, "note", secret) not in seen
    assert [e for e in everything if e != (OPS, "note", secret)] == seen
    assert (OPS, "reply", reply) in seen and (ALPHA, "note", "cable replaced") in seen
    assert any(author == "monitoring" and kind == "note" for author, kind, _ in seen), seen
    assert staff_view["r"]["timers"] == ops_view["r"]["timers"]  # timers count every event
    (staff_row,) = staff_rows["r"]
    ops_row = next(r for r in ops_rows["r"] if r["incident"]["id"] == mine)
    assert (staff_row["events"], ops_row["events"]) == (len(seen), len(everything))

    os.chmod(s.config, 0o644)  # attached, the command reads the configuration, not the store
    command = [*nls_command(), "--config", str(s.config), "--socket", str(sock)]
    command += ["incident", "show", str(mine)]
    code, out, err = await run_as(ALPHA, *command)
    assert code == 0 and "cable replaced" in out and reply in out, (out, err)
    assert "invoices" not in out
    code, out, err = await run_as(OPS, *command)
    assert code == 0 and "invoices" in out, (out, err)
    assert "Traceback" not in s.daemons[0].log


_STAND_IN = (ROOT / "tests" / "test_daemon.py").read_text().split('_CONSOLE_STAND_IN = """')[1]
_STAND_IN = _STAND_IN.split('"""')[0]


async def test_an_embedded_console_takes_its_role_from_this_process(site: Any) -> None:
    """Without a daemon, `nls` decides the role from its own uid the same way: no role, no
    console; installer staff get their own scope whatever they ask for."""
    require_users()
    s: Site = await site(interval="quiet")
    add_sections(s.config, ACCESS)
    os.chmod(s.config.parent, 0o755)
    os.chmod(s.config, 0o644)
    # The embedded service opens the store and reads the secrets as this account: give it what
    # a shared installation would (a store it may write but does not own: ownership means ops).
    Store(s.database).close()
    os.chmod(s.config.parent, 0o777)  # DuckDB writes its WAL beside the file
    os.chmod(s.database, 0o666)
    os.chmod(s.config.with_suffix(".password"), 0o644)
    console = [PYTHON, "-c", _STAND_IN, "--config", str(s.config)]
    code, out, err = await run_as(NOBODY, *console)
    assert code == 2 and "has no role" in err and not out, (out, err)
    code, out, err = await run_as(ALPHA, *console)
    assert (code, out.split()[:2]) == (0, ["embedded", "secutec"]), err
    code, out, err = await run_as(ALPHA, *console, "--installer", "alarmes-wallonie")
    assert code == 2 and "cannot open installer" in err, err


def _window(server: str) -> dict[str, Any]:
    return {
        "id": 0,
        "scope_kind": "server",
        "scope_id": server,
        "reason": "firmware",
        "announced_at": "2026-01-01T00:00:00Z",
        "created_by": "claimed",
        "starts": "2030-01-01T00:00:00Z",
        "ends": "2030-01-01T01:00:00Z",
    }
