"""Client SQL (`nls sql`, the console's SQL screen): what a statement may be and how it runs.

A client statement reads the store and nothing else. Three lines hold that, strongest first:

1. The DuckDB instance itself (`lock_down`, applied to every store connection): no file system
   access beyond `allowed_directories` (none by default), no extension loading, no Python
   replacement scans, and a locked configuration, so no later `SET` can undo any of it. These
   settings cover the whole instance, engine included: a folder the engine must one day write
   (archives, exports) goes into `allowed_directories`, and then line 3 is what keeps clients
   out of it.
2. The transaction: every client statement runs on its own cursor inside
   `BEGIN TRANSACTION READ ONLY`, so no nesting (EXPLAIN ANALYZE, data-modifying CTEs) can write.
3. The parse tree (`check_client_sql`): one statement; SELECT (incl. SHOW, DESCRIBE, SUMMARIZE),
   EXPLAIN of one, or a harmless PRAGMA; no writing query node anywhere in it; table functions
   only from an allowlist (no read_*, glob, query, checkpoint, ...); no file names as tables.

A running statement is bounded: a time limit interrupts it, a result is cut at `max_rows` or
`max_bytes` (and says so), and it streams in Arrow batches, so neither the daemon nor a client
ever holds more than the limit.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from console.errors import QueryError, QueryStopped, ReadOnlyError
from console.sqlresult import CUT_KEY as CUT_KEY
from console.sqlresult import ipc_stream as ipc_stream
from console.sqlresult import result_cut as result_cut
from console.sqlresult import with_cut

log = logging.getLogger("nls.sql")

CHUNK_BYTES = 4 * 1024 * 1024
"""Target size of one streamed piece of a result (one socket frame)."""

ALLOWED_TABLE_FUNCTIONS = frozenset(
    {
        "range",
        "generate_series",
        "unnest",
        "repeat",
        "repeat_row",
        "json_each",
        "json_tree",
        "duckdb_columns",
        "duckdb_constraints",
        "duckdb_databases",
        "duckdb_dependencies",
        "duckdb_functions",
        "duckdb_indexes",
        "duckdb_keywords",
        "duckdb_schemas",
        "duckdb_sequences",
        "duckdb_settings",
        "duckdb_tables",
        "duckdb_types",
        "duckdb_views",
        "pragma_table_info",
        "pragma_show",
        "pragma_version",
        "pragma_database_size",
        "pragma_storage_info",
        "pragma_platform",
        "pragma_collations",
        "pg_timezone_names",
        "icu_calendar_names",
    }
)
_SAFE_PRAGMAS = re.compile(
    r"^\s*(pragma\s+)?(show_tables|show_tables_expanded|table_info|database_size|version|"
    r"storage_info|show|platform|collations)\b",
    re.IGNORECASE,
)
_EXPLAIN = re.compile(
    r"^\s*explain\s+(analy[sz]e\s+)?(\([^)]*\)\s*)?(?P<inner>.*)$", re.IGNORECASE | re.DOTALL
)
_FILE_LIKE = re.compile(r"[/\\.:]")
_READ_ONLY_HINT = (
    "nls sql is read-only: one SELECT (or WITH ... SELECT, SHOW, DESCRIBE, SUMMARIZE, EXPLAIN)"
)


def lock_down(con: duckdb.DuckDBPyConnection, allowed_directories: tuple[str, ...] = ()) -> None:
    """Close the instance to the file system and freeze its configuration (see line 1 above).

    Settings DuckDB needs must be made before this call; after it, any `SET` fails.
    """
    folders = ", ".join("'" + d.rstrip("/").replace("'", "''") + "/'" for d in allowed_directories)
    for statement in (
        "SET autoinstall_known_extensions = false",
        "SET autoload_known_extensions = false",
        "SET python_enable_replacements = false",
        f"SET allowed_directories = [{folders}]",
        "SET enable_external_access = false",
        "SET lock_configuration = true",
    ):
        con.execute(statement)


# -- the parse tree ---------------------------------------------------------------------------

_parser_lock = threading.Lock()
_parser: duckdb.DuckDBPyConnection | None = None


def _serialize(text: str) -> dict[str, Any]:
    """DuckDB's own parse of a SELECT as JSON, from a private in-memory instance."""
    global _parser
    with _parser_lock:
        if _parser is None:
            _parser = duckdb.connect(":memory:")
            lock_down(_parser)
        row = _parser.execute("SELECT json_serialize_sql($1::VARCHAR)", [text]).fetchone()
    assert row is not None
    return json.loads(row[0])


def check_client_sql(text: str) -> str:
    """The one statement of `text` if a client may run it; ReadOnlyError says why not (QueryError
    when DuckDB cannot parse it)."""
    try:
        statements = duckdb.extract_statements(text)
    except duckdb.Error as exc:
        raise QueryError(f"SQL error: {exc}") from None
    if not statements:
        raise ReadOnlyError(f"no SQL statement given; {_READ_ONLY_HINT}")
    if len(statements) > 1:
        raise ReadOnlyError(
            f"refused: {len(statements)} statements; one at a time. {_READ_ONLY_HINT}"
        )
    statement = statements[0]
    kind = statement.type.name
    if kind == "PRAGMA" and _SAFE_PRAGMAS.match(statement.query):
        return text
    if kind == "EXPLAIN":
        found = _EXPLAIN.match(statement.query)
        inner = found.group("inner") if found else ""
        try:
            inner_kind = [s.type.name for s in duckdb.extract_statements(inner)]
        except duckdb.Error:
            inner_kind = []
        if inner_kind != ["SELECT"]:
            raise ReadOnlyError(f"refused: EXPLAIN of anything but a query. {_READ_ONLY_HINT}")
        _check_tree(inner)
        return text
    if kind != "SELECT":
        raise ReadOnlyError(f"refused: {kind} statements are not allowed here; {_READ_ONLY_HINT}")
    _check_tree(statement.query)
    return text


def _check_tree(text: str) -> None:
    tree = _serialize(text)
    if tree.get("error"):
        raise QueryError(f"SQL error: {tree.get('error_message', 'cannot parse')}")
    for node in _nodes(tree):
        kind = node.get("type")
        if not isinstance(kind, str):
            continue
        if kind.endswith("_QUERY_NODE"):
            verb = kind.removesuffix("_QUERY_NODE").replace("_", " ")
            raise ReadOnlyError(f"refused: {verb} inside a query; {_READ_ONLY_HINT}")
        if kind == "TABLE_FUNCTION":
            name = str((node.get("function") or {}).get("function_name", "")).lower()
            if name not in ALLOWED_TABLE_FUNCTIONS:
                raise ReadOnlyError(
                    f"refused: {name}() is not available to client SQL, which reads the store "
                    "and nothing else (no files, no nested statements)"
                )
        elif kind == "BASE_TABLE" and _FILE_LIKE.search(str(node.get("table_name", ""))):
            raise ReadOnlyError(
                f"refused: {node.get('table_name')!r} is a file name; client SQL reads the "
                "store's tables only"
            )


def _nodes(tree: Any) -> Iterator[dict[str, Any]]:
    stack = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


# -- running one statement --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueryLimits:
    """Bounds of one client statement; the config's [sql] section (names used in messages)."""

    timeout: float = 60.0
    max_rows: int = 1_000_000
    max_bytes: int = 256 * 1024 * 1024
    batch_rows: int = 8192
    section: str = "[sql]"

    @classmethod
    def from_settings(cls, settings: Any) -> QueryLimits:
        return cls(settings.timeout, settings.max_rows, settings.max_bytes)


class ClientQuery:
    """One client statement on its own cursor in a READ ONLY transaction, read piece by piece.

    Every method but `interrupt` must run on one thread at a time (any thread); `interrupt` may
    be called from anywhere, e.g. the event loop when the client goes away, or the timer.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, text: str, limits: QueryLimits) -> None:
        self.text = text
        self.limits = limits
        self.rows = 0
        self.bytes = 0
        self.cut: str | None = None
        self.reason: str | None = None
        self.started = time.monotonic()
        self.schema: pa.Schema | None = None
        self._con = con
        self._cur: duckdb.DuckDBPyConnection | None = None
        self._reader: pa.RecordBatchReader | None = None
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self._done = False

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def open(self) -> pa.Schema:
        """Check the statement, start it and return the result's schema."""
        text = check_client_sql(self.text)
        self.started = time.monotonic()
        self._timer = threading.Timer(self.limits.timeout, self.interrupt, args=("timeout",))
        self._timer.daemon = True
        self._timer.start()
        with self._lock:
            self._raise_if_stopped()
            self._cur = self._con.cursor()
        try:
            self._cur.execute("BEGIN TRANSACTION READ ONLY")
            self._raise_if_stopped()
            relation = self._cur.sql(text)
            if relation is None:
                self.schema = pa.schema([])
                self._done = True
            else:
                self._reader = relation.to_arrow_reader(self.limits.batch_rows)
                self.schema = self._reader.schema
        except Exception as exc:
            raise self._translate(exc) from None
        return self.schema

    def next_batches(self, target_bytes: int = CHUNK_BYTES) -> list[pa.RecordBatch]:
        """The next batches, about `target_bytes` together; [] at the end (or after a cut)."""
        out: list[pa.RecordBatch] = []
        size = 0
        while not self._done and size < target_bytes:
            self._raise_if_stopped()
            assert self._reader is not None
            try:
                batch = self._reader.read_next_batch()
            except StopIteration:
                self._done = True
                break
            except Exception as exc:
                raise self._translate(exc) from None
            batch = self._fit(batch)
            if batch.num_rows:
                out.append(batch)
                size += batch.nbytes
        return out

    def next_ipc(self, target_bytes: int = CHUNK_BYTES) -> bytes | None:
        """The next batches as one Arrow IPC stream, or None at the end."""
        batches = self.next_batches(target_bytes)
        if not batches:
            return None
        return ipc_stream(self.schema or batches[0].schema, batches)

    def read_all(self) -> pa.Table:
        """The whole (possibly cut) result as a table; the cut is in its schema metadata."""
        schema = self.open()
        batches: list[pa.RecordBatch] = []
        while more := self.next_batches():
            batches.extend(more)
        return with_cut(pa.Table.from_batches(batches, schema), self.cut)

    def interrupt(self, reason: str) -> None:
        """Stop the statement (first reason wins); safe from any thread."""
        with self._lock:
            if self.reason is None and not self._finished():
                self.reason = reason
            cur = self._cur
        if cur is not None:
            with contextlib.suppress(Exception):
                cur.interrupt()

    def close(self) -> None:
        """End the transaction and free the cursor; safe to call twice."""
        if self._timer is not None:
            self._timer.cancel()
        with self._lock:
            self._done = True
            cur, self._cur = self._cur, None
            reader, self._reader = self._reader, None
        if reader is not None:
            with contextlib.suppress(Exception):
                reader.close()
        if cur is not None:
            with contextlib.suppress(Exception):
                cur.execute("ROLLBACK")
            with contextlib.suppress(Exception):
                cur.close()

    # -- internals ----------------------------------------------------------------------------

    def _finished(self) -> bool:
        return self._done and self._cur is None

    def _fit(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        limits = self.limits
        room_rows = limits.max_rows - self.rows
        room_bytes = limits.max_bytes - self.bytes
        if batch.num_rows > room_rows:
            batch = batch.slice(0, room_rows)
            self._cut(f"result cut at {limits.max_rows:,} rows ({limits.section} max_rows)")
        if batch.num_rows and batch.nbytes > room_bytes:
            per_row = batch.nbytes / batch.num_rows
            batch = batch.slice(0, max(0, int(room_bytes // per_row)))
            self._cut(
                f"result cut at {human_bytes(limits.max_bytes)} ({limits.section} max_bytes) "
                f"after {self.rows + batch.num_rows:,} rows"
            )
        self.rows += batch.num_rows
        self.bytes += batch.nbytes
        if self.rows >= limits.max_rows and self.cut is None:
            self._done = self._reader_exhausted()
            if not self._done:
                self._cut(f"result cut at {limits.max_rows:,} rows ({limits.section} max_rows)")
        return batch

    def _reader_exhausted(self) -> bool:
        """After exactly max_rows: is there more? (Then the result really was cut.)"""
        assert self._reader is not None
        try:
            nxt = self._reader.read_next_batch()
        except StopIteration:
            return True
        return nxt.num_rows == 0 and self._reader_exhausted()

    def _cut(self, message: str) -> None:
        if self.cut is None:
            self.cut = (
                f"{message}: narrow it with WHERE, LIMIT or GROUP BY, or raise the limit in the "
                "configuration"
            )
        self._done = True

    def _raise_if_stopped(self) -> None:
        if self.reason is not None:
            raise self.stopped()

    def stopped(self) -> QueryStopped:
        """The error that says why this statement was stopped."""
        reason = self.reason or "cancelled"
        if reason == "timeout":
            return QueryStopped(
                f"query stopped after {self.limits.timeout:g} s ({self.limits.section} timeout): "
                "narrow it with WHERE or LIMIT, or raise the timeout in the configuration",
                reason,
            )
        if reason == "shutdown":
            return QueryStopped("query stopped: the daemon is shutting down", reason)
        return QueryStopped("query cancelled", reason)

    def _translate(self, exc: BaseException) -> Exception:
        if self.reason is not None or isinstance(exc, duckdb.InterruptException):
            return self.stopped()
        if isinstance(exc, ReadOnlyError | QueryError):
            return exc
        text = str(exc)
        if "read-only" in text or "Cannot write" in text or "disabled by configuration" in text:
            return ReadOnlyError(f"refused: {text.splitlines()[0]}. {_READ_ONLY_HINT}")
        if isinstance(exc, duckdb.Error | pa.ArrowException):
            return QueryError(
                "SQL error: " + "; ".join(filter(None, map(str.strip, text.splitlines())))
            )
        return exc if isinstance(exc, Exception) else RuntimeError(text)


def human_bytes(n: int) -> str:
    for unit, size in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n >= size:
            return f"{n / size:g} {unit}"
    return f"{n} bytes"
