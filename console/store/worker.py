"""Run store calls on dedicated threads: one for writes, one for ad-hoc reads.

DuckDB calls block, so none runs on the event loop (probes, screen, socket stay responsive).
Writes are serialised on one thread and connection; reads that may take long (ad-hoc SQL,
history, detail) run on a second thread with their own cursor, so a heavy query never delays a
batch write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from console.store.database import Store, StoreError

T = TypeVar("T")
log = logging.getLogger("nls.store")

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
    def __init__(self, path: Path, *, options: dict[str, Any] | None = None) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nls-store")
        self._reads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nls-read")
        self._store: Store | None = None
        self._reader: Store | None = None
        self._reopens: list[float] = []
        self.path = path
        self.options = options or {}
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

    async def close(self) -> None:
        self._reads.shutdown(wait=True)
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
