"""The daemon's side of the socket: any FleetSource, served to many consoles at once.

Who a client is comes from the kernel: the peer's uid and groups (SO_PEERCRED) are mapped to a
`Caller` (ops, or one installer's staff) before anything else, and a peer with no role is
refused. A hello may narrow the scope to one installer, never widen it. Each connection gets its
own view for that caller and its own writer task, so a console that stops reading only ever
stalls itself. Calls run concurrently, up to `max_calls` per connection; a response frees its
slot once it has been written. An SQL result streams as Arrow chunks, each written before the
next is read from the store; a client that goes away (closed socket, cancel) interrupts its
statement. Updates go through a bounded queue per subscription: when a client falls behind, the
queue is dropped and the next frame is a full snapshot marked `resync`, which is all a grid needs
to be right again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import grp
import logging
import os
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console import __version__
from console.daemon.runtime import answers, event
from console.daemon.wire import (
    MAX_REQUEST,
    METHODS,
    SUBSCRIBE,
    VERSION,
    FrameTooLarge,
    Header,
    ProtocolError,
    decode,
    decode_args,
    describe,
    error_frame,
    frame,
    frame_head,
    raw,
    read_frame,
)
from console.errors import AlreadyRunning, BadRequest, ConfigError
from console.fleetview import FleetSource
from console.identity import Caller, Peer, peer_of, resolve

log = logging.getLogger("nls.api")
ViewFactory = Callable[[Caller], FleetSource]
Identify = Callable[[Peer], Caller]
HELLO_TIMEOUT = 10.0


def owner_only(peer: Peer) -> Caller:
    """The default identity rule: root and this process's own account are ops, nobody else."""
    from console.config import AccessSettings

    return resolve(peer, AccessSettings(), owner_uid=os.getuid())


class ApiServer:
    """`await start()` binds the socket (0660), `await close()` drops every client and unlinks."""

    def __init__(
        self,
        open_view: ViewFactory,
        path: Path,
        *,
        identify: Identify = owner_only,
        queue_limit: int = 64,
        max_calls: int = 16,
        mode: int = 0o660,
        group: str | None = None,
    ) -> None:
        self.open_view = open_view
        self.identify = identify
        self.path = path
        self.queue_limit = queue_limit
        self.max_calls = max_calls
        self.mode = mode
        self.group = group
        self.closing = False
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
        if self.group is not None:
            os.chown(self.path, -1, _gid(self.group))
        os.chmod(self.path, self.mode)

    def stop_accepting(self) -> None:
        if self._server is not None:
            self._server.close()

    async def close(self) -> None:
        """Drop every client; their running calls (SQL included) are interrupted."""
        self.closing = True
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
        self.caller: Caller | None = None
        self.installer: str | None = None
        self.slots = asyncio.Semaphore(server.max_calls)
        self.responses: deque[_Response] = deque()
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
            got = await read_frame(self.reader, max_header=MAX_REQUEST, max_blob=0)
        if got is None:
            return False
        header, _ = got
        if header.t != "hello":
            raise ProtocolError(f"expected hello, got {header.t!r}")
        try:
            version = decode(header.a.get("v"), int) or 0
            if version != VERSION:
                raise BadRequest(f"protocol version {version} is not {VERSION}; upgrade nls")
            wanted = decode(header.a.get("installer"), str | None)
            peer = peer_of(self.writer.get_extra_info("socket"))
            caller = await asyncio.to_thread(self.server.identify, peer)
            self.caller = caller.narrow(wanted)
            self.installer = self.caller.installer
            self.view = self.server.open_view(self.caller)
        except Exception as exc:
            event(log, "client_refused", logging.INFO, error=str(exc))
            self.writer.write(error_frame(0, exc))
            await self.writer.drain()
            return False
        caller = self.caller
        welcome = {
            "v": VERSION,
            "version": __version__,
            "installer": caller.installer,
            "user": caller.user,
            "role": caller.role,
        }
        self.writer.write(frame(Header(t="welcome", r=raw(welcome))))
        await self.writer.drain()
        event(log, "client", logging.DEBUG, user=caller.user, installer=self.installer or "-")
        return True

    async def _read_loop(self) -> None:
        while True:
            try:
                got = await read_frame(self.reader, max_header=MAX_REQUEST, max_blob=0)
            except FrameTooLarge as exc:
                message = f"request too large: {exc}; requests to the daemon are small"
                self._respond(frame(Header(t="error", e="BadRequest", msg=message)), False)
                await self._drained()
                raise
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
                    task.add_done_callback(functools.partial(self._done, header.id))
            else:
                raise ProtocolError(f"unexpected frame type {header.t!r}")

    async def _call(self, header: Header) -> None:
        try:
            data = await self._answer(header)
        except Exception as exc:
            if _unexpected(exc):
                log.exception("call %s failed", header.m)
            data = error_frame(header.id, exc)
        self._respond(data)

    def _done(self, request: int, task: asyncio.Task[None]) -> None:
        """A call ended; a cancelled one (even before it started) still answers, which frees
        its slot."""
        if self.calls.get(request) is task:
            del self.calls[request]
        if task.cancelled():
            self._respond(frame(Header(t="error", id=request, e="Cancelled", msg="cancelled")))

    async def _answer(self, header: Header) -> bytes:
        method = header.m
        if method not in METHODS:
            raise BadRequest(f"unknown method {method!r}")
        args = decode_args(method, header.a)
        assert self.view is not None
        if method == "sql":
            return await self._sql(header.id, args[0])
        result = await getattr(self.view, method)(*args)
        return frame(Header(t="result", id=header.id, r=raw(result)))

    async def _sql(self, request: int, query: str) -> bytes:
        """Stream the result in Arrow chunks, each written before the next is read."""
        from console.sqlresult import ipc_stream, result_cut

        stream = getattr(self.view, "sql_stream", None)
        if stream is None:  # a FleetSource without streaming: one chunk, encoded off the loop
            assert self.view is not None
            table = await self.view.sql(query)
            chunk = await asyncio.to_thread(ipc_stream, table.schema, table.to_batches())
            self._respond((frame_head(Header(t="chunk", id=request), len(chunk)), chunk), False)
            info = {"cut": result_cut(table), "rows": table.num_rows}
            blob = await asyncio.to_thread(ipc_stream, table.schema, [])
            return frame(Header(t="result", id=request, r=raw(info)), blob)
        async with stream(query) as run:
            schema = await run.open()
            while (chunk := await run.ipc()) is not None:
                head = frame_head(Header(t="chunk", id=request), len(chunk))
                self._respond((head, chunk), False)
                try:  # a client that stops reading holds its statement until the time limit
                    async with asyncio.timeout(run.remaining()):
                        await self._drained()
                except TimeoutError:
                    run.stop("timeout")
                    raise run.query.stopped() from None
            blob = await asyncio.to_thread(ipc_stream, schema, [])
            info = {"cut": run.query.cut, "rows": run.query.rows}
        return frame(Header(t="result", id=request, r=raw(info)), blob)

    def _respond(self, data: bytes | tuple[bytes, ...], frees_slot: bool = True) -> None:
        parts = (data,) if isinstance(data, bytes) else data
        self.responses.append(_Response(parts, frees_slot))
        self.wake.set()

    async def _drained(self) -> None:
        """Wait until everything queued so far has been written (backpressure for streams)."""
        if not self.responses:
            return
        marker = _Response((), False, asyncio.get_running_loop().create_future())
        self.responses.append(marker)
        self.wake.set()
        assert marker.written is not None
        await marker.written

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
            call.cancel(msg="cancelled")

    async def _write_loop(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.responses:
                response = self.responses.popleft()
                for part in response.parts:
                    self.writer.write(part)
                await self.writer.drain()
                if response.written is not None and not response.written.done():
                    response.written.set_result(None)
                if response.frees_slot:
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
        reason = "shutdown" if self.server.closing else "client_gone"
        for call in self.calls.values():
            call.cancel(msg=reason)
        tasks = [t for t in (*self.calls.values(), *(s.task for s in self.subs.values())) if t]
        if self._writer_task is not None:
            tasks.append(self._writer_task)
        for task in tasks:
            task.cancel()
        for response in self.responses:
            if response.written is not None and not response.written.done():
                response.written.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.view is not None:
            with contextlib.suppress(Exception):
                await self.view.close()
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


def _unexpected(exc: Exception) -> bool:
    return describe(exc)[0] == "RemoteError"


@dataclass(slots=True)
class _Response:
    """Bytes to write (a frame, possibly in parts), whether writing them frees a call slot, and
    a future resolved once they are written (for streams that must not run ahead)."""

    parts: tuple[bytes, ...]
    frees_slot: bool
    written: asyncio.Future[None] | None = None


def _gid(group: str) -> int:
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise ConfigError(
            f"socket group {group!r} does not exist; create it (groupadd {group}) or fix "
            "[access] socket_group"
        ) from None
