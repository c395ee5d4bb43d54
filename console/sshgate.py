"""The forced command of an installer's SSH login: their own scoped nls, and nothing else.

sshd runs `nls --socket PATH ssh-session` for every login of a matched account (`Match Group` +
`ForceCommand`, see deploy/sshd-nls.conf), whatever the client asked for. Without a command it
opens the console attached to the daemon; with one (`ssh nls@host mail list`, which sshd passes
in SSH_ORIGINAL_COMMAND) it runs it if it is one of `COMMANDS`. It never reads the configuration
(which names every installer, customer and server) and never opens the database: everything goes
through the daemon's socket, which decides who the caller is from its Unix credentials and shows
it only its own installer's data.
"""

from __future__ import annotations

import asyncio
import shlex
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from console.errors import AccessDenied, DaemonUnavailable, NlsError, UsageError

COMMANDS: dict[str, str] = {
    "": "the live console (needs a terminal: ssh -t)",
    "mail list [--limit N] [--status S]": "the newest mails nls sent you",
    "maintenance list": "your maintenance windows",
    "whoami": "who nls takes you for",
}


class GateError(UsageError):
    """A refused request, phrased for the person at the other end of the SSH session."""


class GateClosed(NlsError):
    """nls is not running: nothing answers on the daemon's socket (exit 1, try again later)."""


def parse(original: str | None) -> list[str]:
    """SSH_ORIGINAL_COMMAND as words (no shell is ever involved); only allowed commands."""
    try:
        words = shlex.split(original or "")
    except ValueError as exc:
        raise GateError(f"cannot read the command ({exc}); {usage()}") from None
    if words and words[0] == "nls":
        words = words[1:]
    head = " ".join(words[:2])
    if not words or words == ["whoami"] or head in ("mail list", "maintenance list"):
        return words
    raise GateError(f"{' '.join(words)!r} is not available over SSH; {usage()}")


def usage() -> str:
    listed = (f"{command or '(no command)'}: {what}" for command, what in COMMANDS.items())
    return "available: " + "; ".join(listed)


async def connect(path: Path) -> Any:
    """A RemoteSource in this caller's own scope, or GateError saying why there is none."""
    from console.daemon.remote import RemoteSource

    try:
        return await RemoteSource.connect(path)
    except AccessDenied as exc:
        raise GateError(str(exc)) from None
    except DaemonUnavailable:
        raise GateClosed(
            f"nls is not running (nothing answers on {path}); try again later or ask ops"
        ) from None


async def run_command(path: Path, words: Sequence[str], out: TextIO) -> int:
    """Run one allowed command through the daemon and print its table."""
    source = await connect(path)
    try:
        if words[0] == "whoami":
            info = await source.info()
            scope = info.installer or "every installer"
            out.write(f"{info.user} ({info.role}, {scope})\n")
        elif words[0] == "mail":
            limit, status = _mail_options(words[2:])
            rows = [r for r in await source.outbox(limit) if status is None or r.status == status]
            table(
                out,
                ["created", "status", "kind", "server", "subject", "tries", "error"],
                [
                    [
                        _when(r.created),
                        r.status,
                        r.kind,
                        r.server or "",
                        r.subject,
                        str(r.attempts),
                        r.last_error or "",
                    ]
                    for r in rows
                ],
            )
        else:
            if words[2:]:
                raise GateError(f"maintenance list takes no options; {usage()}")
            windows = await source.maintenance_list()
            table(
                out,
                ["id", "scope", "starts", "ends", "announced", "recorded", "reason"],
                [
                    [
                        str(w.id),
                        f"{w.scope_kind} {w.scope_id}",
                        _when(w.starts) if not w.cron else f"cron '{w.cron}' {w.timezone}",
                        _when(w.ends),
                        _when(w.announced_at),
                        _when(w.recorded_at) or "-",
                        w.reason,
                    ]
                    for w in windows
                ],
            )
    finally:
        await source.close()
    return 0


def _mail_options(words: Sequence[str]) -> tuple[int, str | None]:
    limit, status = 50, None
    it = iter(words)
    for word in it:
        value = next(it, None)
        if word == "--limit" and value is not None and value.isdigit() and 1 <= int(value) <= 1000:
            limit = int(value)
        elif word == "--status" and value in ("pending", "sending", "sent", "failed"):
            status = value
        else:
            raise GateError(
                f"mail list takes --limit 1..1000 and --status pending|sending|sent|failed, "
                f"not {' '.join(words)!r}"
            )
    return limit, status


def _when(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M%z") if value else ""


def table(out: TextIO, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]
    out.write("\n".join(line.rstrip() for line in lines) + "\n")


def session(path: Path, original: str | None, out: TextIO = sys.stdout) -> int:
    """What one SSH login gets: a command's output, or the console in the caller's scope."""
    words = parse(original)
    if words:
        return asyncio.run(run_command(path, words, out))
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise GateError(f"the console needs a terminal: connect with ssh -t; {usage()}")
    return _console(path)


def _console(path: Path) -> int:
    from console.config import Config
    from console.daemon.remote import RemoteSource
    from console.tui import launch

    async def scope() -> str | None:
        source = await connect(path)
        try:
            return (await source.info()).installer
        finally:
            await source.close()

    installer = asyncio.run(scope())
    source = RemoteSource(path, installer=installer)
    return launch.run_console(Config(), installer=installer, source=source)
