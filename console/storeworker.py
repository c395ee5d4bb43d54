"""Run every store call on one dedicated thread.

A DuckDB connection is not meant to be shared between threads, and its calls block; one worker
thread keeps the event loop (probes, screen, socket) responsive and serialises writes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from console.store import Store

T = TypeVar("T")


class StoreWorker:
    def __init__(self, path: Path) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nls-store")
        self._store: Store | None = None
        self.path = path

    async def open(self) -> None:
        self._store = await self._run(partial(Store, self.path))

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call `fn(store, *args)` on the store thread, e.g. `call(Store.query, "SELECT 1")`."""
        store = self._store
        if store is None:
            raise RuntimeError("store is not open")
        return await self._run(partial(fn, store, *args, **kwargs))

    async def close(self) -> None:
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
