"""The daemon's side of the socket: any FleetSource, served to many consoles at once.

Each connection gets its own view (scoped to the installer named in its hello) and its own writer
task, so a console that stops reading only ever stalls itself. Calls run concurrently, up to
`max_calls` per connection; a response frees its slot once it has been written. Updates go
through a bounded queue per subscription: when a client falls behind, the queue is dropped and
the next frame is a full snapshot marked `resync`, which is all a grid needs to be right again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console import __version__
from console.authors import peer_user
from console.daemon.runtime import AlreadyRunning, answers, event
from console.daemon.wire import (
    METHODS,
    SUBSCRIBE,
    VERSION,
    Header,
    ProtocolError,
    decode,
    decode_args,
    describe,
    error_frame,
    frame,
    raw,
    read_frame,
)
from console.fleetview import FleetSource

log = logging.getLogger("nls.api")
ViewFactory = Callable[[str | None, str], FleetSource]
"""(installer scope, author: the peer's OS user from SO_PEERCRED) -> the connection's view."""
HELLO_TIMEOUT = 10.0


class ApiServer:
    """`await start()` binds the socket (0660), `await close()` drops every client and unlinks."""

    def __init__(
        self,
        open_view: ViewFactory,
        path: Path,
        *,
        queue_limit: int = 64,
        max_calls: int = 16,
        mode: int = 0o660,
    ) -> None:
        self.open_view = open_view
        self.path = path
        self.queue_limit = queue_limit
        self.max_calls = max_calls
        self.mode = mode
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def clients(self) -> int:
        return len(self._connections)

    async def start(self) -> None:
        self._clear_stale()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        old = os.umask(0o777 & ~self.mode)
        try:
            self._server = await asyncio.start_unix_server(self._accept, path=str(self.path))
        finally:
            os.umask(old)
        os.chmod(self.path, self.mode)

    def stop_accepting(self) -> None:
        if self._server is not None:
            self._server.close()

    async def close(self) -> None:
        self.stop_accepting()
        for conn in list(self._connections):
            conn.abort()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _clear_stale(self) -> None:
        """A socket file left by a killed daemon is removed; a live one means a second daemon."""
        if not self.path.exists():
            return
        if not answers(self.path, timeout=1.0):
            self.path.unlink()
            return
        raise AlreadyRunning(f"a daemon already answers on {self.path}; one daemon per database")

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Connection(self, reader, writer)
        self._connections.add(conn)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await conn.run()
        finally:
            self._connections.discard(conn)
            self._tasks.discard(task)


@dataclass(eq=False)
class _Subscription:
    """Pending update frames of one `updates` call; overflow turns into one resync."""

    id: int
    limit: int
    pending: deque[bytes] = field(default_factory=deque)
    resync: bool = False
    ended: bool = False
    task: asyncio.Task[None] | None = None

    def push(self, data: bytes) -> None:
        if self.resync:
            return
        if len(self.pending) >= self.limit:
            self.pending.clear()
            self.resync = True
            return
        self.pending.append(data)


class _Connection:
    def __init__(
        self, server: ApiServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.view: FleetSource | None = None
        self.installer: str | None = None
        self.slots = asyncio.Semaphore(server.max_calls)
        self.responses: deque[tuple[bytes, bool]] = deque()
        self.subs: dict[int, _Subscription] = {}
        self.calls: dict[int, asyncio.Task[None]] = {}
        self.wake = asyncio.Event()
        self.closing = False
        self._writer_task: asyncio.Task[None] | None = None

    def abort(self) -> None:
        self.closing = True
        self.writer.transport.abort()

    async def run(self) -> None:
        run_task = asyncio.current_task()
        try:
            if not await self._hello():
                return
            self._writer_task = asyncio.create_task(self._write_loop())
            self._writer_task.add_done_callback(lambda _: self._writer_gone(run_task))
            await self._read_loop()
        except (ConnectionError, ProtocolError, TimeoutError, asyncio.CancelledError) as exc:
            if not self.closing:
                event(log, "client_error", logging.DEBUG, error=str(exc))
        finally:
            await self._teardown()

    def _writer_gone(self, run_task: asyncio.Task[Any] | None) -> None:
        """A client that cannot be written to is gone, even if its reader has not noticed."""
        if not self.closing and run_task is not None:
            self.closing = True
            run_task.cancel()

    async def _hello(self) -> bool:
        async with asyncio.timeout(HELLO_TIMEOUT):
            got = await read_frame(self.reader)
        if got is None:
            return False
        header, _ = got
        if header.t != "hello":
            raise ProtocolError(f"expected hello, got {header.t!r}")
        version = decode(header.a.get("v"), int) or 0
        self.installer = decode(header.a.get("installer"), str | None)
        try:
            if version != VERSION:
                raise ValueError(f"protocol version {version} is not {VERSION}; upgrade nls")
            author = peer_user(self.writer.get_extra_info("socket"))
            self.view = self.server.open_view(self.installer, author)
        except Exception as exc:
            self.writer.write(error_frame(0, exc))
            await self.writer.drain()
            return False
        welcome = {"v": VERSION, "version": __version__, "installer": self.installer}
        self.writer.write(frame(Header(t="welcome", r=raw(welcome))))
        await self.writer.drain()
        event(log, "client", logging.DEBUG, installer=self.installer or "-")
        return True

    async def _read_loop(self) -> None:
        while True:
            got = await read_frame(self.reader)
            if got is None:
                return
            header, _ = got
            if header.t == "cancel":
                self._cancel(header.id)
            elif header.t == "call":
                await self.slots.acquire()
                if header.m == SUBSCRIBE:
                    self.slots.release()
                    self._subscribe(header.id)
                else:
                    task = asyncio.create_task(self._call(header))
                    self.calls[header.id] = task
            else:
                raise ProtocolError(f"unexpected frame type {header.t!r}")

    async def _call(self, header: Header) -> None:
        try:
            data = await self._answer(header)
        except asyncio.CancelledError:
            data = frame(Header(t="error", id=header.id, e="Cancelled", msg="cancelled"))
        except Exception as exc:
            if _unexpected(exc):
                log.exception("call %s failed", header.m)
            data = error_frame(header.id, exc)
        finally:
            self.calls.pop(header.id, None)
        self._respond(data)

    async def _answer(self, header: Header) -> bytes:
        method = header.m
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}")
        args = decode_args(method, header.a)
        assert self.view is not None
        result = await getattr(self.view, method)(*args)
        if method == "sql":
            blob = await _arrow_bytes(result)
            return frame(Header(t="result", id=header.id), blob)
        return frame(Header(t="result", id=header.id, r=raw(result)))

    def _respond(self, data: bytes, frees_slot: bool = True) -> None:
        self.responses.append((data, frees_slot))
        self.wake.set()

    def _subscribe(self, sub_id: int) -> None:
        assert self.view is not None
        sub = _Subscription(sub_id, self.server.queue_limit)
        self.subs[sub_id] = sub
        sub.task = asyncio.create_task(self._pump(sub, self.view.updates()))

    async def _pump(self, sub: _Subscription, rows: AsyncIterator[Any]) -> None:
        """Move the view's updates into the subscription's queue; never waits on the client."""
        try:
            async for batch in rows:
                sub.push(frame(Header(t="update", id=sub.id, r=raw(batch))))
                self.wake.set()
            final = frame(Header(t="end", id=sub.id))
        except asyncio.CancelledError:
            final = frame(Header(t="end", id=sub.id))
        except Exception as exc:
            log.exception("updates failed")
            final = error_frame(sub.id, exc)
        finally:
            aclose = getattr(rows, "aclose", None)  # an async generator: end it now
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
        sub.ended = True
        self.subs.pop(sub.id, None)
        self._respond(final, frees_slot=False)

    def _cancel(self, request: int) -> None:
        sub = self.subs.get(request)
        if sub is not None and sub.task is not None:
            sub.task.cancel()
        call = self.calls.get(request)
        if call is not None:
            call.cancel()

    async def _write_loop(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.responses:
                data, frees = self.responses.popleft()
                self.writer.write(data)
                await self.writer.drain()
                if frees:
                    self.slots.release()
            for sub in list(self.subs.values()):
                await self._flush(sub)

    async def _flush(self, sub: _Subscription) -> None:
        if sub.resync:
            sub.resync = False
            assert self.view is not None
            snapshot = await self.view.snapshot()
            event(log, "client_resync", logging.DEBUG, installer=self.installer or "-")
            data = frame(Header(t="update", id=sub.id, r=raw(snapshot.rows), resync=True))
            self.writer.write(data)
            await self.writer.drain()
        while sub.pending:
            self.writer.write(sub.pending.popleft())
            await self.writer.drain()

    async def _teardown(self) -> None:
        self.closing = True
        tasks = [t for t in (*self.calls.values(), *(s.task for s in self.subs.values())) if t]
        if self._writer_task is not None:
            tasks.append(self._writer_task)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.view is not None:
            with contextlib.suppress(Exception):
                await self.view.close()
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


def _unexpected(exc: Exception) -> bool:
    return describe(exc)[0] == "RemoteError"


async def _arrow_bytes(table: Any) -> bytes:
    """Arrow IPC stream of a result; big ones are serialised off the event loop."""
    import pyarrow as pa

    def encode() -> bytes:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as out:
            out.write_table(table)
        return sink.getvalue().to_pybytes()

    if table.nbytes > 1_000_000:
        return await asyncio.to_thread(encode)
    return encode()
