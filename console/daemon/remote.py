"""RemoteSource: the FleetSource of a console attached to a running daemon.

It connects lazily, in whichever event loop first uses it, because the console's loop (Textual's)
only exists once the app runs. One connection carries every call concurrently; one reader task
routes results to their callers and update frames to their subscriptions. Errors come back as the
exceptions an embedded source raises (any `NlsError` by name, KeyError, ValueError), and a lost
daemon as DaemonUnavailable.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import itertools
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any, Concatenate, Literal, ParamSpec, TypeVar, cast

from console import __version__
from console.daemon.runtime import answers, candidate_sockets
from console.daemon.wire import (
    METHODS,
    ROWS,
    SUBSCRIBE,
    VERSION,
    DaemonUnavailable,
    Header,
    ProtocolError,
    decode,
    encode_args,
    frame,
    raw,
    read_frame,
    rebuild,
)
from console.errors import BadRequest
from console.fleetview import (
    FleetSnapshot,
    FleetSource,
    ReportBy,
    ReportKind,
    ServerRow,
    SourceInfo,
)
from console.sqlresult import assemble

P = ParamSpec("P")
R = TypeVar("R")
CONNECT_TIMEOUT = 5.0
_END = object()


def find_daemon(database: Path, configured: Path | None = None) -> Path | None:
    """The socket of a daemon that answers for `database`, or None (no daemon, or a stale file)."""
    return next((p for p in candidate_sockets(database, configured) if answers(p)), None)


class _Updates:
    """Client side of one subscription: bounded like the daemon's, resync on overflow."""

    def __init__(self, limit: int) -> None:
        self.items: deque[Any] = deque()
        self.limit = limit
        self.resync = False
        self.changed = asyncio.Event()

    def push(self, item: Any) -> None:
        if item is not _END and not isinstance(item, BaseException):
            if len(self.items) >= self.limit:
                self.items.clear()
                self.resync = True
            if self.resync:
                self.changed.set()
                return
        self.items.append(item)
        self.changed.set()


def remote_call(
    method: Callable[Concatenate[Any, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[RemoteSource, P], Coroutine[Any, Any, R]]:
    """A RemoteSource method with the signature of the FleetSource `method` it stands for: the
    arguments (defaults applied) go to the daemon, whose answer is decoded as the protocol's
    return type (see `wire.METHODS`)."""
    name = method.__name__
    signature = inspect.signature(method)

    async def call(self: RemoteSource, /, *args: P.args, **kwargs: P.kwargs) -> R:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        return cast(R, await self._call(name, *list(bound.arguments.values())[1:]))

    call.__name__ = call.__qualname__ = name
    call.__doc__ = method.__doc__
    return call


class RemoteSource:
    """FleetSource over the daemon's unix socket (mode "attached")."""

    mode: Literal["embedded", "attached"] = "attached"

    def __init__(self, path: Path, *, installer: str | None = None, queue_limit: int = 256) -> None:
        self.path = path
        self.installer = installer
        self.queue_limit = queue_limit
        self.welcome: dict[str, Any] = {}
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[tuple[Header, bytes]]] = {}
        self._chunks: dict[int, list[bytes]] = {}
        self._subs: dict[int, _Updates] = {}
        self._ids = itertools.count(1)
        self._connecting: asyncio.Lock | None = None
        self._closed = False

    @classmethod
    async def connect(cls, path: Path, *, installer: str | None = None) -> RemoteSource:
        """Connect now, so that a missing daemon or a refused scope shows up at once."""
        source = cls(path, installer=installer)
        await source._ensure()
        return source

    @property
    def connected(self) -> bool:
        return self._reader_task is not None and not self._reader_task.done()

    # -- FleetSource -----------------------------------------------------------------------

    async def info(self) -> SourceInfo:
        info = await self._call("info")
        return dataclasses.replace(info, mode="attached")

    async def snapshot(self) -> FleetSnapshot:
        snap = await self._call("snapshot")
        return dataclasses.replace(snap, mode="attached")

    async def updates(self) -> AsyncIterator[tuple[ServerRow, ...]]:
        """Changed rows per stored batch; ends when the daemon or this source goes away."""
        await self._ensure()
        sub_id = next(self._ids)
        queue = _Updates(self.queue_limit)
        self._subs[sub_id] = queue
        self._send(frame(Header(t="call", id=sub_id, m=SUBSCRIBE)))
        try:
            while True:
                if not queue.items and not queue.resync:
                    queue.changed.clear()
                    await queue.changed.wait()
                if queue.resync:
                    queue.resync = False
                    yield (await self.snapshot()).rows
                    continue
                item = queue.items.popleft()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self._subs.pop(sub_id, None)
            if self.connected:
                with contextlib.suppress(Exception):
                    self._send(frame(Header(t="cancel", id=sub_id)))

    async def sql(self, query: str) -> Any:
        """The daemon streams the result in Arrow chunks; a cut result says so in its schema
        metadata, as an embedded one does (`console.sqlresult.result_cut`)."""
        request = next(self._ids)
        chunks: list[bytes] = []
        self._chunks[request] = chunks
        try:
            header, blob = await self._request("sql", query, request=request)
        finally:
            self._chunks.pop(request, None)
        info = decode(header.r, dict[str, Any]) or {}
        if sum(len(c) for c in chunks) > 1_000_000:
            return await asyncio.to_thread(assemble, chunks, blob, info.get("cut"))
        return assemble(chunks, blob, info.get("cut"))

    # Plain calls: the protocol's signature, forwarded as is (one line per FleetSource method).
    server_detail = remote_call(FleetSource.server_detail)
    history = remote_call(FleetSource.history)
    check_now = remote_call(FleetSource.check_now)
    scope_zone = remote_call(FleetSource.scope_zone)
    maintenance_list = remote_call(FleetSource.maintenance_list)
    maintenance_add = remote_call(FleetSource.maintenance_add)
    maintenance_remove = remote_call(FleetSource.maintenance_remove)
    outbox = remote_call(FleetSource.outbox)
    outage_list = remote_call(FleetSource.outage_list)
    outage_exclude = remote_call(FleetSource.outage_exclude)
    outage_revoke = remote_call(FleetSource.outage_revoke)
    credit_claim = remote_call(FleetSource.credit_claim)
    import_samples = remote_call(FleetSource.import_samples)

    async def report(
        self,
        kind: ReportKind,
        month: str,
        by: ReportBy = "server",
        installer_id: str | None = None,
        customer_id: str | None = None,
    ) -> Any:
        """The daemon sends the table as one Arrow IPC stream."""
        import pyarrow as pa

        _, blob = await self._request("report", kind, month, by, installer_id, customer_id)
        return pa.ipc.open_stream(blob).read_all()

    incident_open = remote_call(FleetSource.incident_open)
    incident_event = remote_call(FleetSource.incident_event)
    incident_show = remote_call(FleetSource.incident_show)
    incidents = remote_call(FleetSource.incidents)
    incident_stats = remote_call(FleetSource.incident_stats)
    mail = remote_call(FleetSource.mail)

    async def close(self) -> None:
        """Detach; the daemon carries on as if nothing happened."""
        self._closed = True
        self._drop(None)
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(BaseException):
                await self._reader_task

    async def __aenter__(self) -> RemoteSource:
        await self._ensure()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- transport -------------------------------------------------------------------------

    async def _call(self, method: str, *args: Any) -> Any:
        header, _ = await self._request(method, *args)
        return decode(header.r, METHODS[method].result)

    async def _request(
        self, method: str, *args: Any, request: int | None = None
    ) -> tuple[Header, bytes]:
        await self._ensure()
        request = next(self._ids) if request is None else request
        future: asyncio.Future[tuple[Header, bytes]] = asyncio.get_running_loop().create_future()
        self._pending[request] = future
        try:
            self._send(frame(Header(t="call", id=request, m=method, a=encode_args(method, args))))
            header, blob = await future
        except asyncio.CancelledError:
            if self.connected:
                with contextlib.suppress(Exception):
                    self._send(frame(Header(t="cancel", id=request)))
            raise
        finally:
            self._pending.pop(request, None)
        if header.t == "error":
            raise rebuild(header.e, header.msg)
        return header, blob

    def _send(self, data: bytes) -> None:
        if self._writer is None or not self.connected:
            raise DaemonUnavailable(f"not connected to the daemon at {self.path}")
        self._writer.write(data)

    async def _ensure(self) -> None:
        if self.connected:
            return
        if self._closed:
            raise DaemonUnavailable("this source is closed")
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if not self.connected:
                await self._open()

    async def _open(self) -> None:
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                reader, writer = await asyncio.open_unix_connection(str(self.path))
                hello = {"v": raw(VERSION), "installer": raw(self.installer)}
                hello["client"] = raw(f"nls {__version__}")
                writer.write(frame(Header(t="hello", a=hello)))
                got = await read_frame(reader)
        except (OSError, TimeoutError, ProtocolError) as exc:
            raise DaemonUnavailable(f"no nls daemon answers on {self.path}: {exc}") from None
        if got is None:
            writer.close()
            raise DaemonUnavailable(f"the daemon at {self.path} closed the connection")
        header, _ = got
        if header.t == "error":
            writer.close()
            refused = rebuild(header.e, header.msg)
            # An older daemon refuses a newer hello with a bare ValueError: still one line.
            raise BadRequest(header.msg) if type(refused) is ValueError else refused
        self.welcome = decode(header.r, dict[str, Any]) or {}
        # The daemon decides the scope from who we are: an installer's staff get theirs.
        self.installer = self.welcome.get("installer", self.installer)
        self._reader, self._writer = reader, writer
        self._reader_task = asyncio.create_task(self._read_loop(reader))

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        error: BaseException | None = None
        try:
            while True:
                got = await read_frame(reader)
                if got is None:
                    break
                self._route(*got)
        except (OSError, ProtocolError) as exc:
            error = exc
        finally:
            self._drop(error)

    def _route(self, header: Header, blob: bytes) -> None:
        sub = self._subs.get(header.id)
        if sub is not None and header.t in ("update", "end", "error"):
            if header.t == "update":
                sub.push(decode(header.r, ROWS))
            elif header.t == "end":
                sub.push(_END)
            else:
                sub.push(rebuild(header.e, header.msg))
            return
        if header.t == "chunk":
            chunks = self._chunks.get(header.id)
            if chunks is not None:
                chunks.append(blob)
            return
        future = self._pending.get(header.id)
        if future is not None and not future.done():
            future.set_result((header, blob))

    def _drop(self, error: BaseException | None) -> None:
        """The connection is gone: fail waiting calls, end subscriptions."""
        lost = DaemonUnavailable(
            f"lost the connection to the daemon at {self.path}" + (f": {error}" if error else "")
        )
        for future in self._pending.values():
            if not future.done():
                future.set_exception(lost)
        for sub in self._subs.values():
            sub.push(_END)
