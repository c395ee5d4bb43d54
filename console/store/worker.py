"""Run store calls on dedicated threads: one for writes, one for ad-hoc reads.

DuckDB calls block, so none runs on the event loop (probes, screen, socket stay responsive).
Writes are serialised on one thread and connection; reads that may take long (ad-hoc SQL,
history, detail) run on a second thread with their own cursor, so a heavy query never delays a
batch write.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from console.store.database import Store

T = TypeVar("T")


class StoreWorker:
    def __init__(self, path: Path) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nls-store")
        self._reads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nls-read")
        self._store: Store | None = None
        self._reader: Store | None = None
        self.path = path

    async def open(self) -> None:
        self._store = await self._run(partial(Store, self.path))

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call `fn(store, *args)` on the store thread, e.g. `call(Store.query, "SELECT 1")`."""
        store = self._store
        if store is None:
            raise RuntimeError("store is not open")
        return await self._run(partial(fn, store, *args, **kwargs))

    async def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call `fn(reader, *args)` on the read thread, with a cursor of the same database."""
        store = self._store
        if store is None:
            raise RuntimeError("store is not open")

        def run() -> T:
            if self._reader is None:
                self._reader = store.reader()
            return fn(self._reader, *args, **kwargs)

        return await asyncio.get_running_loop().run_in_executor(self._reads, run)

    async def close(self) -> None:
        self._reads.shutdown(wait=True)
        if self._reader is not None:
            self._reader.con.close()
            self._reader = None
        if self._store is not None:
            await self._run(self._store.close)
            self._store = None
        self._pool.shutdown(wait=True)

    async def __aenter__(self) -> StoreWorker:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn)
