"""Outbox on a real DuckDB file and a real SMTP server: retries, restarts, no second copy."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from console.mail.mailer import Mailer, SmtpSettings
from console.mail.notify import Notification, NotifySettings, ServerFacts, build_notifications
from console.mail.outbox import Backoff, DuckOutboxStore, OutboxWorker
from console.monitor.alerting import AlertState, Sample, evaluate
from console.store.database import Store
from tests.smtp import SmtpServer

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def now(self) -> datetime:
        return self.t

    def advance(self, **kw: float) -> None:
        self.t += timedelta(**kw)


class Crash(BaseException):
    """Stands in for SIGKILL: nothing after it runs, no handler catches it."""


class CrashOnMarkSent(DuckOutboxStore):
    def mark_sent(self, key: str, at: datetime) -> None:
        raise Crash


class CrashOnMarkSending(DuckOutboxStore):
    def mark_sending(self, key: str, at: datetime) -> None:
        raise Crash


def open_db(path: Path) -> Store:
    return Store(path)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "nls.duckdb"
    open_db(path).close()
    yield path


def store_mails(
    database: Store,
    mails: Sequence[Notification],
    at: datetime,
    samples: Sequence[Sample] = (),
    states: Sequence[AlertState] = (),
) -> None:
    """Mails enter the outbox as the engine stores them: with a cycle, in its transaction."""
    database.write_cycle(
        database.next_cycle_id(), at, at, samples, alert_states=states, notifications=mails
    )


def outbox_keys(database: Store) -> list[str]:
    return sorted(r[0] for r in database.con.execute("SELECT key FROM outbox").fetchall())


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    async with SmtpServer() as server:
        yield server


def mailer(server: SmtpServer) -> Mailer:
    return Mailer(
        SmtpSettings(port=server.port, sender="NLS <no-reply@visuatech.example>", timeout=5)
    )


def note(i: int, **kw) -> Notification:
    base = dict(
        key=f"nls-alert-{i:032x}",
        kind="alert",
        server=f"s{i}",
        installer="in1",
        recipients=("alerts@installer.example",),
        subject=f"[NLS] problem {i}",
        body_text=f"problem {i}",
        body_html=f"<p>problem {i}</p>",
        created=T0,
    )
    return Notification(**(base | kw))


def keys_received(server: SmtpServer) -> list[str]:
    return sorted(m.message["X-NLS-Key"] for m in server.inbox.messages)


async def test_stored_mails_are_kept_once_and_listed_recent(db: Path) -> None:
    database = open_db(db)
    store = DuckOutboxStore(database.con)
    store_mails(database, [note(1), note(2)], T0)
    assert outbox_keys(database) == [note(1).key, note(2).key]
    kept = store.row(note(2).key)
    store_mails(database, [note(2), note(3)], T0 + timedelta(minutes=1))
    assert outbox_keys(database) == [note(i).key for i in (1, 2, 3)]
    assert store.row(note(2).key) == kept
    rows = store.recent()
    assert {r.key for r in rows} == {note(i).key for i in (1, 2, 3)}
    row = store.row(note(1).key)
    assert row is not None
    assert (row.status, row.attempts, row.next_attempt, row.sent_at) == ("pending", 0, T0, None)
    assert row.notification() == note(1)
    assert [r.key for r in store.due(T0)] == [note(1).key, note(2).key]


def test_backoff_doubles_from_30_seconds_up_to_15_minutes() -> None:
    delays = [Backoff().delay(n).total_seconds() for n in range(1, 9)]
    assert delays == [30, 60, 120, 240, 480, 900, 900, 900]


async def test_smtp_outage_keeps_mail_pending_with_growing_backoff_then_delivers_once(
    db: Path, smtp: SmtpServer
) -> None:
    clock = Clock()
    database = open_db(db)
    store = DuckOutboxStore(database.con)
    worker = OutboxWorker(store, mailer(smtp), now=clock.now)
    store_mails(database, [note(1), note(2), note(3)], clock.now())
    await smtp.stop()

    expected_waits = [30, 60, 120, 240]
    for attempt, wait in enumerate(expected_waits, start=1):
        report = await worker.run_once()
        assert len(report.retrying) == 3 and not report.sent
        for i in (1, 2, 3):
            row = store.row(note(i).key)
            assert row is not None
            assert (row.status, row.attempts) == ("pending", attempt)
            assert row.next_attempt == clock.now() + timedelta(seconds=wait)
            assert f"127.0.0.1:{smtp.port}" in (row.last_error or "")
        clock.advance(seconds=wait - 1)
        assert await worker.run_once() == type(report)()
        clock.advance(seconds=1)

    await smtp.start()
    report = await worker.run_once()
    assert sorted(report.sent) == sorted(note(i).key for i in (1, 2, 3))
    await smtp.inbox.wait_for(3)
    clock.advance(hours=2)
    assert await worker.run_once() == type(report)()
    assert keys_received(smtp) == sorted(note(i).key for i in (1, 2, 3))
    for i in (1, 2, 3):
        row = store.row(note(i).key)
        assert row is not None
        assert (row.status, row.attempts, row.sent_at) == (
            "sent",
            5,
            clock.now() - timedelta(hours=2),
        )


async def test_restart_resends_what_was_pending(db: Path, smtp: SmtpServer) -> None:
    clock = Clock()
    database = open_db(db)
    store_mails(database, [note(1)], clock.now())
    database.close()

    database = open_db(db)
    worker = OutboxWorker(DuckOutboxStore(database.con), mailer(smtp), now=clock.now)
    assert await worker.recover() == []
    assert (await worker.run_once()).sent == (note(1).key,)
    assert keys_received(smtp) == [note(1).key]


async def test_crash_between_send_and_mark_then_replay_sends_no_second_copy(
    db: Path, smtp: SmtpServer
) -> None:
    clock = Clock()
    database = open_db(db)
    crashing = OutboxWorker(CrashOnMarkSent(database.con), mailer(smtp), now=clock.now)
    store_mails(database, [note(1)], clock.now())
    with pytest.raises(Crash):
        await crashing.run_once()
    assert keys_received(smtp) == [note(1).key]
    database.close()

    clock.advance(minutes=1)
    database = open_db(db)
    store = DuckOutboxStore(database.con)
    worker = OutboxWorker(store, mailer(smtp), now=clock.now)
    assert await worker.recover() == [note(1).key]
    settled = store.row(note(1).key)
    store_mails(database, [note(1)], clock.now())
    assert store.row(note(1).key) == settled
    clock.advance(hours=1)
    report = await worker.run_once()
    assert report.sent == () and report.retrying == ()
    assert keys_received(smtp) == [note(1).key]
    row = store.row(note(1).key)
    assert row is not None and row.status == "sent"
    assert row.last_error is not None and row.last_error.startswith("in doubt")


async def test_crash_before_data_resends_exactly_once(db: Path, smtp: SmtpServer) -> None:
    clock = Clock()
    database = open_db(db)
    crashing = OutboxWorker(CrashOnMarkSending(database.con), mailer(smtp), now=clock.now)
    store_mails(database, [note(1)], clock.now())
    with pytest.raises(Crash):
        await crashing.run_once()
    assert smtp.inbox.messages == []
    database.close()

    database = open_db(db)
    store = DuckOutboxStore(database.con)
    worker = OutboxWorker(store, mailer(smtp), now=clock.now)
    assert await worker.recover() == []
    pending = store.row(note(1).key)
    store_mails(database, [note(1)], clock.now())
    assert store.row(note(1).key) == pending
    assert (await worker.run_once()).sent == (note(1).key,)
    assert (await worker.run_once()).sent == ()
    assert keys_received(smtp) == [note(1).key]


async def test_resend_in_doubt_keeps_the_message_id(db: Path, smtp: SmtpServer) -> None:
    clock = Clock()
    database = open_db(db)
    with pytest.raises(Crash):
        crashing = OutboxWorker(CrashOnMarkSent(database.con), mailer(smtp), now=clock.now)
        store_mails(database, [note(1)], clock.now())
        await crashing.run_once()
    worker = OutboxWorker(
        DuckOutboxStore(database.con), mailer(smtp), now=clock.now, resend_in_doubt=True
    )
    assert await worker.recover() == [note(1).key]
    assert (await worker.run_once()).sent == (note(1).key,)
    first, second = await smtp.inbox.wait_for(2)
    assert first.message["Message-ID"] == second.message["Message-ID"]


async def test_rejected_message_is_given_up_and_not_retried(db: Path, smtp: SmtpServer) -> None:
    clock = Clock()
    database = open_db(db)
    store = DuckOutboxStore(database.con)
    worker = OutboxWorker(store, mailer(smtp), now=clock.now)
    store_mails(database, [note(1)], clock.now())
    smtp.inbox.reply = "554 5.7.1 rejected"
    assert (await worker.run_once()).failed == (note(1).key,)
    clock.advance(days=1)
    smtp.inbox.reply = None
    assert (await worker.run_once()).failed == ()
    row = store.row(note(1).key)
    assert row is not None and row.status == "failed" and "554" in (row.last_error or "")


async def test_run_loop_sends_as_soon_as_woken_for_stored_mail(db: Path, smtp: SmtpServer) -> None:
    database = open_db(db)
    worker = OutboxWorker(DuckOutboxStore(database.con), mailer(smtp))
    stop = asyncio.Event()
    loop = asyncio.create_task(worker.run(stop, poll=60))
    for i in (1, 2):
        store_mails(database, [note(i)], datetime.now(UTC))
        worker.wake.set()
        await smtp.inbox.wait_for(i)
    stop.set()
    await asyncio.wait_for(loop, 5)
    assert keys_received(smtp) == [note(1).key, note(2).key]


async def test_offload_runs_store_calls_on_another_thread(db: Path, smtp: SmtpServer) -> None:
    database = open_db(db)

    async def offload(fn):
        return await asyncio.to_thread(fn)

    worker = OutboxWorker(DuckOutboxStore(database.con), mailer(smtp), offload=offload)
    store_mails(database, [note(1)], datetime.now(UTC))
    assert (await worker.run_once()).sent == (note(1).key,)


async def test_three_cycles_to_one_mail_and_a_replayed_cycle_adds_none(
    db: Path, smtp: SmtpServer
) -> None:
    """The whole chain: samples -> alert state -> one grouped mail -> SMTP, exactly once."""
    clock = Clock()
    database = open_db(db)
    worker = OutboxWorker(DuckOutboxStore(database.con), mailer(smtp), now=clock.now)
    directory = {
        "s1": ServerFacts(
            "s1", "CREST-042", "cu1", "Bakkerij Peeters", "in1", "Securitas", ("i@x.example",), "nl"
        )
    }
    settings = NotifySettings(ops_address="ops@visuatech.example")
    states: dict = {}
    received = []
    for cycle in range(1, 5):
        clock.advance(minutes=15)
        samples = [
            Sample(clock.now(), "s1", "camera", f"c{i}", "fail", None, "offline", f"Cam {i}")
            for i in range(5)
        ]
        result = evaluate(cycle, samples, states)
        mails = build_notifications(result.events, directory, settings)
        store_mails(database, mails, clock.now(), samples, result.states)
        if cycle == 3:
            stored = outbox_keys(database)
            replay = evaluate(cycle, samples, states)
            store_mails(
                database, build_notifications(replay.events, directory, settings), clock.now()
            )
            assert outbox_keys(database) == stored
        states.update({s.key: s for s in result.states})
        await worker.run_once()
        received.append(len(smtp.inbox.messages))
    assert received == [0, 0, 1, 1]
    (got,) = smtp.inbox.messages
    assert sorted(got.rcpt_tos) == ["i@x.example", "ops@visuatech.example"]
    body = got.message.get_body(("plain",))
    assert body is not None
    assert all(f"Camera offline: Cam {i}" in body.get_content() for i in range(5))
