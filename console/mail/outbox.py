"""The outbox: notifications are stored before any send, then delivered with retries.

Row life: pending -> sending -> sent, or back to pending with a later `next_attempt` (exponential
backoff, capped), or failed when the server rejects the message itself.

Rows are written by the store, in the transaction of the cycle that decided them
(`Store.write_cycle`), which ignores keys already stored, so replaying a cycle adds nothing.

Why no second copy after a crash. The SMTP transaction is split: connect, login, MAIL FROM and
RCPT TO happen while the row is still `pending` (a crash there leaves it pending and it is simply
sent after the restart); only once the server has accepted the envelope is the row marked
`sending`, then DATA goes out and the row becomes `sent`. A row found `sending` at start-up
therefore crashed during or just after DATA, the one moment where nobody can know whether the
server kept the mail. Such rows are settled as sent (with a note in last_error) by default, or
resent with the same Message-ID when `resend_in_doubt` is set, for sites that prefer a rare
duplicate to a rare loss.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol, TypeVar

from console.clock import utcnow
from console.errors import NlsError
from console.mail.mailer import MailError
from console.mail.notify import Kind, Notification

log = logging.getLogger(__name__)

T = TypeVar("T")
Status = Literal["pending", "sending", "sent", "failed"]
IN_DOUBT_NOTE = "in doubt: stopped during SMTP DATA"


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One row of the `outbox` table."""

    key: str
    created: datetime
    kind: Kind
    server: str | None
    installer: str | None
    recipients: tuple[str, ...]
    subject: str
    body_text: str
    body_html: str
    status: Status
    attempts: int
    next_attempt: datetime
    last_error: str | None
    sent_at: datetime | None

    def notification(self) -> Notification:
        return Notification(
            key=self.key,
            kind=self.kind,
            server=self.server or "",
            installer=self.installer or "",
            recipients=self.recipients,
            subject=self.subject,
            body_text=self.body_text,
            body_html=self.body_html,
            created=self.created,
        )


class OutboxStore(Protocol):
    """What the outbox needs from the store; every call is one short transaction."""

    def due(self, now: datetime, limit: int = 50) -> list[OutboxRow]:
        """Pending rows whose next_attempt has passed, oldest first."""
        ...

    def mark_sending(self, key: str, at: datetime) -> None: ...

    def mark_sent(self, key: str, at: datetime) -> None: ...

    def mark_failed(self, key: str, error: str, next_attempt: datetime | None) -> None:
        """Count the attempt; retry at next_attempt, or give up (status failed) when None."""
        ...

    def settle_in_doubt(self, now: datetime, resend: bool) -> list[str]:
        """Resolve rows left `sending` by a crash; returns their keys."""
        ...

    def recent(self, limit: int = 100) -> list[OutboxRow]:
        """Newest rows first, for the console's list of sent mail."""
        ...


class Sender(Protocol):
    async def send(
        self, n: Notification, before_data: Callable[[], Awaitable[None] | None] | None = None
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay before retry n (1-based): first, doubling, capped."""

    first: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(minutes=15)

    def delay(self, attempt: int) -> timedelta:
        return min(self.cap, self.first * (2 ** max(0, attempt - 1)))


@dataclass(frozen=True, slots=True)
class Report:
    """What one pass did, for logs, tests and the benchmark."""

    sent: tuple[str, ...] = ()
    retrying: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()


class OutboxWorker:
    """Delivers due rows; `run_once` is one pass, `run` loops until `stop` is set.

    `offload` runs a store call elsewhere (e.g. on the store's thread); by default inline.
    """

    def __init__(
        self,
        store: OutboxStore,
        sender: Sender,
        *,
        now: Callable[[], datetime] = utcnow,
        backoff: Backoff = Backoff(),
        resend_in_doubt: bool = False,
        offload: Callable[[Callable[[], Any]], Awaitable[Any]] | None = None,
        batch: int = 50,
    ) -> None:
        self.store = store
        self.sender = sender
        self.now = now
        self.backoff = backoff
        self.resend_in_doubt = resend_in_doubt
        self._offload = offload
        self.batch = batch
        self.wake = asyncio.Event()

    async def recover(self) -> list[str]:
        """At start-up: settle rows a crash left in the middle of DATA."""
        keys = await self._call(
            lambda: self.store.settle_in_doubt(self.now(), self.resend_in_doubt)
        )
        for key in keys:
            log.warning(
                "outbox %s: %s; %s",
                key,
                IN_DOUBT_NOTE,
                "resending" if self.resend_in_doubt else "treated as sent, not resent",
            )
        return keys

    async def run_once(self) -> Report:
        rows = await self._call(lambda: self.store.due(self.now(), self.batch))
        sent: list[str] = []
        retrying: list[str] = []
        failed: list[str] = []
        for row in rows:
            outcome = await self._deliver(row)
            {"sent": sent, "retrying": retrying, "failed": failed}[outcome].append(row.key)
        return Report(tuple(sent), tuple(retrying), tuple(failed))

    async def run(self, stop: asyncio.Event, poll: float = 5.0) -> None:
        """Deliver until `stop`; wakes on `wake` (new mail) or every `poll` seconds (retries)."""
        await self.recover()
        while not stop.is_set():
            self.wake.clear()
            try:
                report = await self.run_once()
            except NlsError as exc:  # the store failed (and is being reopened): one line
                log.warning("outbox pass failed: %s; retrying on the next pass", exc)
            except Exception:
                log.exception("outbox pass failed; retrying on the next pass")
            else:
                if len(report.sent) + len(report.retrying) + len(report.failed) >= self.batch:
                    continue
            waiters = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.wake.wait())}
            _, pending = await asyncio.wait(
                waiters, timeout=poll, return_when=asyncio.FIRST_COMPLETED
            )
            for task in pending:
                task.cancel()

    async def _deliver(self, row: OutboxRow) -> str:
        key = row.key

        async def before_data() -> None:
            await self._call(lambda: self.store.mark_sending(key, self.now()))

        try:
            await self.sender.send(row.notification(), before_data)
        except MailError as exc:
            return await self._failed(row, exc)
        await self._call(lambda: self.store.mark_sent(key, self.now()))
        log.info("outbox %s: sent to %s", key, ", ".join(row.recipients))
        return "sent"

    async def _failed(self, row: OutboxRow, exc: MailError) -> str:
        error, attempt = str(exc), row.attempts + 1
        if exc.permanent:
            await self._call(lambda: self.store.mark_failed(row.key, error, None))
            log.error("outbox %s: giving up after %d attempts: %s", row.key, attempt, error)
            return "failed"
        retry_at = self.now() + self.backoff.delay(attempt)
        await self._call(lambda: self.store.mark_failed(row.key, error, retry_at))
        log.warning(
            "outbox %s: attempt %d failed, retry at %s: %s",
            row.key,
            attempt,
            retry_at.isoformat(),
            error,
        )
        return "retrying"

    async def _call(self, fn: Callable[[], T]) -> T:
        if self._offload is None:
            return fn()
        return await self._offload(fn)


# TIMESTAMPTZ values are read back as naive UTC: DuckDB needs pytz to return aware ones.
_SELECT = (
    "SELECT key, timezone('UTC', created), kind, server, installer, recipients, subject,"
    " body_text, body_html, status, attempts, timezone('UTC', next_attempt), last_error,"
    " timezone('UTC', sent_at) FROM outbox"
)


class DuckOutboxStore:
    """OutboxStore on the `outbox` table of sql/migrations/001_initial.sql.

    Uses the connection or cursor it is given, from the thread that owns it.
    """

    def __init__(self, con: Any) -> None:
        self.con = con

    def due(self, now: datetime, limit: int = 50) -> list[OutboxRow]:
        rows = self.con.execute(
            f"{_SELECT} WHERE status = 'pending' AND next_attempt <= ? "
            "ORDER BY next_attempt, created, key LIMIT ?",
            [now, limit],
        ).fetchall()
        return [_row(r) for r in rows]

    def mark_sending(self, key: str, at: datetime) -> None:
        self.con.execute("UPDATE outbox SET status = 'sending' WHERE key = ?", [key])

    def mark_sent(self, key: str, at: datetime) -> None:
        self.con.execute(
            "UPDATE outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1 WHERE key = ?",
            [at, key],
        )

    def mark_failed(self, key: str, error: str, next_attempt: datetime | None) -> None:
        self.con.execute(
            "UPDATE outbox SET status = ?, attempts = attempts + 1, last_error = ?, "
            "next_attempt = coalesce(?, next_attempt) WHERE key = ?",
            ["pending" if next_attempt else "failed", error[:2000], next_attempt, key],
        )

    def settle_in_doubt(self, now: datetime, resend: bool) -> list[str]:
        rows = self.con.execute(
            "UPDATE outbox SET status = ?, last_error = ?, attempts = attempts + 1, "
            "sent_at = CASE WHEN ? THEN NULL ELSE ? END, next_attempt = ? "
            "WHERE status = 'sending' RETURNING key",
            ["pending" if resend else "sent", IN_DOUBT_NOTE, resend, now, now],
        ).fetchall()
        return sorted(r[0] for r in rows)

    def recent(self, limit: int = 100) -> list[OutboxRow]:
        rows = self.con.execute(f"{_SELECT} ORDER BY created DESC, key LIMIT ?", [limit]).fetchall()
        return [_row(r) for r in rows]

    def row(self, key: str) -> OutboxRow | None:
        found = self.con.execute(f"{_SELECT} WHERE key = ?", [key]).fetchone()
        return _row(found) if found else None


def _row(r: tuple) -> OutboxRow:
    return OutboxRow(
        key=r[0],
        created=_aware(r[1]),
        kind=r[2],
        server=r[3],
        installer=r[4],
        recipients=tuple(r[5]),
        subject=r[6],
        body_text=r[7],
        body_html=r[8],
        status=r[9],
        attempts=r[10],
        next_attempt=_aware(r[11]),
        last_error=r[12],
        sent_at=_aware(r[13]) if r[13] is not None else None,
    )


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC)
