"""Run store calls on dedicated threads: one for writes, one for short reads, one per client query.

DuckDB calls block, so none runs on the event loop (probes, screen, socket stay responsive).
Writes are serialised on one thread and connection; the engine's own reads (history, detail)
run on a second thread with their own cursor, so they never delay a batch write. Client SQL runs
on a thread and cursor of its own per statement (at most `concurrent` at once), so one slow
statement delays no other, and each can be interrupted: when its client goes away, when it runs
out of time, and when the store closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pyarrow as pa

from console.sqlresult import with_cut
from console.store.database import Store, StoreError
from console.store.sandbox import CHUNK_BYTES, ClientQuery, QueryLimits

T = TypeVar("T")
log = logging.getLogger("nls.store")
sql_log = logging.getLogger("nls.sql")

MAX_REOPENS = 3
REOPEN_WINDOW = 3600.0
"""More than MAX_REOPENS fatal failures within this many seconds: the store cannot be trusted
to recover by itself, and the process must end (systemd restarts it)."""


class StoreFatal(StoreError):
    """The database failed fatally and could not be reopened: the process must end, not run
    on blind (storing nothing, serving stale reads)."""


def is_fatal(exc: BaseException) -> bool:
    """DuckDB's fatal errors invalidate the database instance until it is opened again."""
    return isinstance(exc, duckdb.FatalException) or "invalidated" in str(exc)


class StoreWorker:
    def __init__(
        self,
        path: Path,
        *,
        options: dict[str, Any] | None = None,
        limits: QueryLimits | None = None,
        concurrent: int = 4,
        allowed_directories: tuple[str, ...] = (),
    ) -> None:
        """`options`: Store keyword arguments (`store_options(config)`: settings, archive)."""
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nls-store")
        self._reads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nls-read")
        self._store: Store | None = None
        self._reader: Store | None = None
        self._reopens: list[float] = []
        self._queries: set[ClientRun] = set()
        self._finishing: set[asyncio.Future[None]] = set()
        """Statements whose cursor is still closing on their own thread: the connection cannot
        close under them ("connection is busy")."""
        self._query_slots = asyncio.Semaphore(concurrent)
        self.path = path
        self.limits = limits or QueryLimits()
        self.options = dict(options or {})
        if allowed_directories:
            self.options["allowed_directories"] = allowed_directories
        self.fatal: StoreFatal | None = None
        """Set once the store is beyond repair; every later call raises it."""

    async def open(self) -> None:
        self._store = await self._run(partial(Store, self.path, **self.options))

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call `fn(store, *args)` on the store thread, e.g. `call(Store.query, "SELECT 1")`.

        A fatal DuckDB error (the database invalidated) reopens the database and raises
        StoreError for this call; StoreFatal when it cannot be reopened."""
        store = self._usable()
        try:
            return await self._run(partial(fn, store, *args, **kwargs))
        except duckdb.Error as exc:
            if not is_fatal(exc):
                raise
            await self._recover(exc)
            raise StoreError(
                f"{self.path}: the database failed ({_first_line(exc)}) and was reopened"
            ) from None

    async def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call `fn(reader, *args)` on the read thread, with a cursor of the same database."""
        store = self._usable()

        def run() -> T:
            if self._reader is None:
                self._reader = store.reader()
            return fn(self._reader, *args, **kwargs)

        try:
            return await asyncio.get_running_loop().run_in_executor(self._reads, run)
        except duckdb.Error as exc:
            if not is_fatal(exc):
                raise
            await self._recover(exc)
            raise StoreError(
                f"{self.path}: the database failed ({_first_line(exc)}) and was reopened; try again"
            ) from None

    def _usable(self) -> Store:
        if self.fatal is not None:
            raise self.fatal
        store = self._store
        if store is None:
            raise RuntimeError("store is not open")
        return store

    async def _recover(self, exc: BaseException) -> None:
        """Reopen the database after a fatal error; StoreFatal when that is not possible or
        keeps being needed."""
        if self.fatal is not None:
            raise self.fatal
        now = time.monotonic()
        self._reopens = [t for t in self._reopens if t > now - REOPEN_WINDOW] + [now]
        cause = _first_line(exc)
        log.error(
            "database failed fatally; reopening it",
            extra={"event": "store_fatal", "error": cause, "reopens": len(self._reopens)},
        )
        if len(self._reopens) > MAX_REOPENS:
            self.fatal = StoreFatal(
                f"{self.path}: the database failed fatally {len(self._reopens)} times within "
                f"{REOPEN_WINDOW / 60:.0f} minutes (last: {cause}); stopping so that the "
                "service manager restarts nls. Check the disk and the file's limits."
            )
            raise self.fatal
        old, self._store = self._store, None
        reader, self._reader = self._reader, None

        def reopen() -> Store:
            for con in (reader.con if reader else None, old.con if old else None):
                if con is not None:
                    with contextlib.suppress(Exception):
                        con.close()
            return Store(self.path, **self.options)

        try:
            self._store = await self._run(reopen)
        except Exception as again:
            self.fatal = StoreFatal(
                f"{self.path}: the database failed fatally ({cause}) and cannot be reopened "
                f"({_first_line(again)}); stopping so that the service manager restarts nls"
            )
            raise self.fatal from None
        log.warning("database reopened", extra={"event": "store_reopened"})

    @contextlib.asynccontextmanager
    async def client_query(self, text: str, *, who: str = "") -> AsyncIterator[ClientRun]:
        """A client statement, sandboxed and bounded (see `console.store.sandbox`):
        `async with worker.client_query(sql) as run: schema = await run.open(); ...`.

        Cancelling the task that uses it interrupts the statement; the cancel message (e.g.
        "client_gone") is logged as the reason.
        """
        store = self._usable()
        async with self._query_slots:
            run = ClientRun(ClientQuery(store.con, text, self.limits), who)
            self._queries.add(run)
            try:
                yield run
            except asyncio.CancelledError as exc:
                run.stop(str(exc.args[0]) if exc.args and exc.args[0] else "cancelled")
                raise
            finally:
                self._queries.discard(run)
                run.finish()
                self._finishing.add(run.finished)
                run.finished.add_done_callback(self._finishing.discard)

    async def client_table(self, text: str, *, who: str = "") -> pa.Table:
        """The whole (bounded) result of a client statement, for an embedded console."""
        async with self.client_query(text, who=who) as run:
            schema = await run.open()
            batches: list[pa.RecordBatch] = []
            while more := await run.batches():
                batches.extend(more)
            return with_cut(pa.Table.from_batches(batches, schema), run.query.cut)

    def interrupt_all(self, reason: str = "shutdown") -> None:
        """Stop every running client statement (and a long engine read) now."""
        for run in list(self._queries):
            run.stop(reason)
        if self._reader is not None:
            with contextlib.suppress(Exception):
                self._reader.con.interrupt()

    async def close(self) -> None:
        self.interrupt_all()
        while self._queries or self._finishing:
            await asyncio.gather(*(r.finished for r in list(self._queries)), *self._finishing)
        await asyncio.get_running_loop().run_in_executor(None, self._reads.shutdown, True)
        if self._reader is not None:
            with contextlib.suppress(duckdb.Error):
                self._reader.con.close()
            self._reader = None
        if self._store is not None:
            store = self._store
            self._store = None
            with contextlib.suppress(duckdb.Error):
                await self._run(store.close)
        self._pool.shutdown(wait=True)

    async def __aenter__(self) -> StoreWorker:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


class ClientRun:
    """One client statement driven from the event loop, each step on the statement's thread."""

    def __init__(self, query: ClientQuery, who: str) -> None:
        self.query = query
        self.who = who
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nls-sql")
        self.finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._opened = False

    async def open(self) -> pa.Schema:
        self._opened = True
        _event("query_started", user=self.who or "-")
        return await self._step(self.query.open)

    async def batches(self, target_bytes: int = CHUNK_BYTES) -> list[pa.RecordBatch]:
        return await self._step(self.query.next_batches, target_bytes)

    async def ipc(self, target_bytes: int = CHUNK_BYTES) -> bytes | None:
        """The next piece of the result as an Arrow IPC stream (encoded on the statement's
        thread, never on the loop), or None at the end."""
        return await self._step(self.query.next_ipc, target_bytes)

    def stop(self, reason: str) -> None:
        self.query.interrupt(reason)

    def remaining(self) -> float:
        """Seconds left of the statement's time limit."""
        return max(0.0, self.query.limits.timeout - self.query.elapsed)

    def finish(self) -> None:
        """Close the statement on its thread after whatever step is still running there."""
        loop = asyncio.get_running_loop()
        closing = loop.run_in_executor(self._pool, self.query.close)
        self._pool.shutdown(wait=False)

        def done(_: Any) -> None:
            self._log_end()
            if not self.finished.done():
                self.finished.set_result(None)

        closing.add_done_callback(done)

    def _log_end(self) -> None:
        q = self.query
        ms = round(q.elapsed * 1000)
        if q.reason is not None:
            _event("query_stopped", user=self.who or "-", reason=q.reason, ms=ms)
        elif self._opened:
            cut = q.cut is not None
            _event("query_finished", user=self.who or "-", rows=q.rows, cut=cut, ms=ms)

    async def _step(self, fn: Callable[..., T], *args: Any) -> T:
        future = asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        try:
            return await future
        except asyncio.CancelledError as exc:
            self.stop(str(exc.args[0]) if exc.args and exc.args[0] else "cancelled")
            raise


def _event(name: str, **fields: Any) -> None:
    sql_log.info(name, extra={"event": name, **fields})
