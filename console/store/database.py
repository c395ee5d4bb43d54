"""The DuckDB store: one file, owned by one process, written a cycle at a time.

DuckDB lets one process hold the file; a second cannot even open it read-only. So the engine that
probes owns the store, and everything else (consoles, `nls sql`) asks that process.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

import sql
from console.clock import utcnow
from console.desk.store import apply_monitoring
from console.directory import Directory
from console.errors import QueryError, ReadOnlyError, StoreError, StoreLockedError
from console.mail.notify import Notification
from console.monitor.alerting import AlertState
from console.monitor.sample import Sample
from console.store.sandbox import ClientQuery, QueryLimits, check_client_sql, lock_down

__all__ = [
    "QueryError",
    "ReadOnlyError",
    "Store",
    "StoreError",
    "StoreLockedError",
    "check_read_only",
]

if TYPE_CHECKING:
    from console.config import Config
    from console.desk.monitoring import MonitorAction

SAMPLE_SCHEMA = pa.schema(
    [
        ("ts", pa.timestamp("us", tz="UTC")),
        ("cycle", pa.int64()),
        ("server", pa.string()),
        ("check_name", pa.string()),
        ("subject", pa.string()),
        ("state", pa.string()),
        ("value", pa.float64()),
        ("latency_ms", pa.float64()),
        ("detail", pa.string()),
    ]
)


def connect(
    path: Path, *, read_only: bool = False, allowed_directories: tuple[str, ...] = ()
) -> duckdb.DuckDBPyConnection:
    """Open the file locked down (see `console.store.sandbox.lock_down`): no file access beyond
    `allowed_directories`, no extension downloads, configuration frozen."""
    try:
        con = duckdb.connect(
            str(path),
            read_only=read_only,
            config={"autoinstall_known_extensions": False, "TimeZone": "UTC"},
        )
    except duckdb.IOException as exc:
        text = str(exc)
        if "lock" in text.lower():
            pid = re.search(r"PID (\d+)", text)
            owner = f" (process {pid.group(1)})" if pid else ""
            raise StoreLockedError(
                f"{path}: the database is in use by another nls process{owner}. DuckDB allows one "
                "process per file: if `nls --daemon` runs, the console and commands attach to it; "
                "otherwise stop the other process."
            ) from None
        raise _open_error(path, exc) from None
    except duckdb.Error as exc:
        raise _open_error(path, exc) from None
    lock_down(con, allowed_directories)
    return con


def _open_error(path: Path, exc: Exception) -> StoreError:
    """One line saying which file is damaged and what to do (DuckDB replays the WAL on open)."""
    text = str(exc).splitlines()[0]
    wal = path.with_name(path.name + ".wal")
    if wal.exists() and any(
        word in text.lower() for word in ("wal", "replay", "checksum", "corrupt", "serializ")
    ):
        return StoreError(
            f"{wal}: the write-ahead log of {path} is damaged and cannot be replayed ({text}). "
            f"Stop every nls process, move {wal.name} aside (the writes since the last checkpoint "
            "are lost) and start again; keep the moved file for a bug report."
        )
    return StoreError(
        f"{path}: cannot open the database ({text}). If the file is damaged, restore it from a "
        "backup, or move it aside to start an empty store."
    )


class Store:
    """Schema, inventory sync, batch writes and read-only queries on one DuckDB connection.

    Not thread-safe by itself: the engine gives it one thread (see `console.store.worker`).
    """

    def __init__(
        self, path: Path, *, read_only: bool = False, allowed_directories: tuple[str, ...] = ()
    ) -> None:
        self.path = path
        self.read_only = read_only
        if not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
        elif not path.exists():
            raise StoreError(f"{path}: no database yet; run `nls check` or start the console once")
        self.con = connect(path, read_only=read_only, allowed_directories=allowed_directories)
        if read_only:
            self._check_version()
        else:
            self.migrate()

    def close(self) -> None:
        self.con.close()

    def reader(self) -> Store:
        """A read-only view on a cursor of this connection, for use on another thread."""
        clone = object.__new__(Store)
        clone.path = self.path
        clone.read_only = True
        clone.con = self.con.cursor()
        return clone

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema ---------------------------------------------------------------------------

    def version(self) -> int:
        exists = self.scalar(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'"
        )
        return int(self.scalar("SELECT max(version) FROM schema_version") or 0) if exists else 0

    def scalar(self, text: str, params: Sequence[Any] | None = None) -> Any:
        """First column of the first row; drains the result, which DuckDB 2.0 requires."""
        rows = self.con.execute(text, params or []).fetchall()
        return rows[0][0] if rows else None

    def migrate(self) -> int:
        """Apply every migration not applied yet, in order, each in its own transaction;
        returns the newest version. Numbers are handed out to parallel work, so a database
        may already hold a higher one when a lower one arrives (004 after 005): it is applied
        then, not skipped."""
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS schema_version "
            "(version INTEGER PRIMARY KEY, name VARCHAR, applied TIMESTAMPTZ)"
        )
        applied = {
            row[0] for row in self.con.execute("SELECT version FROM schema_version").fetchall()
        }
        for version, name, text in sql.migrations():
            if version in applied:
                continue
            self.con.execute("BEGIN")
            try:
                self.con.execute(text)
                self.con.execute(
                    "INSERT INTO schema_version VALUES (?, ?, ?)", [version, name, utcnow()]
                )
                self.con.execute("COMMIT")
            except Exception:
                _rollback(self.con)
                raise
        return self.version()

    def _check_version(self) -> None:
        newest = max((v for v, _, _ in sql.migrations()), default=0)
        if self.version() > newest:
            raise StoreError(
                f"{self.path}: written by a newer nls (schema {self.version()} > {newest}); "
                "upgrade nls"
            )

    # -- inventory --------------------------------------------------------------------------

    def sync_inventory(self, config: Config) -> None:
        """Make the inventory tables match the config; absent rows are retired, not deleted."""
        installers = pa.Table.from_pylist(
            [
                {"id": i.id, "name": i.name, "emails": i.emails, "language": i.language}
                for i in config.installers
            ],
            schema=pa.schema(
                [
                    ("id", pa.string()),
                    ("name", pa.string()),
                    ("emails", pa.list_(pa.string())),
                    ("language", pa.string()),
                ]
            ),
        )
        directory = Directory(config)
        customers = pa.Table.from_pylist(
            [
                {
                    "id": c.id,
                    "name": c.name,
                    "installer": c.installer,
                    "sla_plan": c.sla_plan,
                    "timezone": directory.zone("customer", c.id),
                }
                for c in config.customers
            ],
            schema=pa.schema(
                [(k, pa.string()) for k in ("id", "name", "installer", "sla_plan", "timezone")]
            ),
        )
        servers = pa.Table.from_pylist(
            [
                {
                    "id": s.id,
                    "name": s.name or s.id,
                    "customer": s.customer,
                    "address": s.address,
                    "platform": s.platform,
                    "delivered": s.delivered,
                    "api_url": api_url(config, s),
                }
                for s in config.servers
            ],
            schema=pa.schema(
                [(k, pa.string()) for k in ("id", "name", "customer", "address", "platform")]
                + [("delivered", pa.date32()), ("api_url", pa.string())]
            ),
        )
        con = self.con
        con.execute("BEGIN")
        try:
            for table, frame in (
                ("installers", installers),
                ("customers", customers),
                ("servers", servers),
            ):
                con.register("incoming", frame)
                con.execute(
                    f"UPDATE {table} SET retired = true WHERE id NOT IN (SELECT id FROM incoming)"
                )
                con.execute(
                    f"INSERT OR REPLACE INTO {table} BY NAME "
                    "SELECT *, false AS retired FROM incoming"
                )
                con.unregister("incoming")
            con.execute("COMMIT")
        except Exception:
            _rollback(con)
            raise

    # -- samples ----------------------------------------------------------------------------

    def next_cycle_id(self) -> int:
        return int(self.scalar("SELECT coalesce(max(id), 0) + 1 FROM cycles"))

    def write_cycle(
        self,
        cycle: int,
        started: datetime,
        finished: datetime,
        samples: Sequence[Sample],
        cameras: Iterable[tuple[str, str, str]] = (),
        alert_states: Sequence[AlertState] = (),
        notifications: Sequence[Notification] = (),
        incidents: Sequence[MonitorAction] = (),
    ) -> dict[str, float]:
        """Store one cycle's samples as one Arrow batch and fold them into the derived tables.

        Everything happens in one transaction, so a crash leaves either the whole cycle or none.
        `cameras` are (server, camera, name) of cameras new or renamed since the last cycle.
        Alert states and notifications (the outbox) commit with the samples: after a crash the
        counts resume exactly where the stored samples end, and no mail is lost or doubled.
        So do the incidents monitoring opens or adds to (`incidents`, console.desk.monitoring):
        a confirmed fault has its mail and its incident, or neither.
        Returns seconds spent per step, for benchmarks and the daemon's log.
        """
        t0 = time.perf_counter()
        batch = samples_table(cycle, samples)
        seen = pa.Table.from_pylist(
            [{"server": s, "camera": c, "name": n} for s, c, n in cameras],
            schema=pa.schema(
                [("server", pa.string()), ("camera", pa.string()), ("name", pa.string())]
            ),
        )
        con = self.con
        con.execute("BEGIN")
        try:
            con.register("batch", batch)
            con.register("seen", seen)
            t1 = time.perf_counter()
            con.execute("INSERT INTO samples SELECT * FROM batch")
            t2 = time.perf_counter()
            con.execute(sql.query("fold_state_changes"))
            con.execute(sql.query("fold_current_state"))
            if seen.num_rows:
                con.execute(
                    "INSERT INTO cameras SELECT server, camera, name, $1, NULL FROM seen "
                    "ON CONFLICT DO UPDATE SET name = excluded.name, renamed = $1",
                    [finished],
                )
            if alert_states:
                con.register("states", alert_states_table(alert_states))
                con.execute("INSERT OR REPLACE INTO alert_state SELECT * FROM states")
                con.unregister("states")
            if notifications:
                con.register("mails", outbox_table(notifications, finished))
                con.execute("INSERT INTO outbox SELECT * FROM mails ON CONFLICT (key) DO NOTHING")
                con.unregister("mails")
            if incidents:
                apply_monitoring(con, incidents, finished)
            con.execute(
                "INSERT INTO cycles VALUES (?, ?, ?, ?, ?)",
                [cycle, started, finished, len({s.server for s in samples}), len(samples)],
            )
            con.execute("COMMIT")
            t3 = time.perf_counter()
        except Exception:
            _rollback(con)
            raise
        finally:
            con.unregister("batch")
            con.unregister("seen")
        return {"arrow": t1 - t0, "append": t2 - t1, "fold_commit": t3 - t2, "total": t3 - t0}

    def known_cameras(self) -> dict[str, list[tuple[str, str]]]:
        """Cameras seen before, per server, so an unreachable server's cameras become unknown."""
        known: dict[str, list[tuple[str, str]]] = {}
        for server, camera, name in self.con.execute(
            "SELECT server, camera, name FROM cameras ORDER BY server, name"
        ).fetchall():
            known.setdefault(server, []).append((camera, name))
        return known

    def alert_states(self) -> list[AlertState]:
        table = self.con.sql("SELECT * FROM alert_state").to_arrow_table()
        return [AlertState(**row) for row in table.to_pylist()]

    def host_keys(self) -> dict[str, str]:
        """SSH host keys pinned on first use, per server."""
        return dict(self.con.execute("SELECT server, key FROM host_keys").fetchall())

    def pin_host_key(self, server: str, key: str, fingerprint: str, at: datetime) -> None:
        self.con.execute(
            "INSERT OR REPLACE INTO host_keys VALUES (?, ?, ?, ?)", [server, key, fingerprint, at]
        )

    def add_finding(self, ts: datetime, server: str, kind: str, detail: str) -> None:
        self.con.execute("INSERT INTO findings VALUES (?, ?, ?, ?)", [ts, server, kind, detail])

    # -- queries ----------------------------------------------------------------------------

    def query(
        self, text: str, params: Sequence[Any] | None = None, *, limits: QueryLimits | None = None
    ) -> pa.Table:
        """Run one client statement (read-only, sandboxed, bounded) and return an Arrow table;
        a result cut by `limits` says so in its schema metadata (`sandbox.result_cut`)."""
        if params:
            raise ReadOnlyError("client SQL takes no parameters")
        query = ClientQuery(self.con, text, limits or QueryLimits())
        try:
            return query.read_all()
        finally:
            query.close()

    def named(self, name: str, params: Sequence[Any] | None = None) -> pa.Table:
        return self._arrow(sql.query(name), params)

    def _arrow(self, text: str, params: Sequence[Any] | None) -> pa.Table:
        relation = self.con.sql(text, params=list(params) if params else None)
        if relation is None:
            return pa.table({})
        return relation.to_arrow_table()


def check_read_only(text: str) -> None:
    """Refuse anything a client may not run, before it runs (ReadOnlyError says why)."""
    check_client_sql(text)


def samples_table(cycle: int, samples: Sequence[Sample]) -> pa.Table:
    columns: dict[str, list[Any]] = {name: [] for name in SAMPLE_SCHEMA.names}
    for s in samples:
        columns["ts"].append(s.ts)
        columns["server"].append(s.server)
        columns["check_name"].append(s.check)
        columns["subject"].append(s.subject)
        columns["state"].append(s.state)
        columns["value"].append(s.value)
        columns["latency_ms"].append(s.latency_ms)
        columns["detail"].append(s.detail)
    columns["cycle"] = [cycle] * len(samples)
    return pa.Table.from_pydict(columns, schema=SAMPLE_SCHEMA)


def api_url(config: Config, server: Any) -> str:
    return server.eocortex_url or f"http://{server.address}:{config.eocortex.port}"


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back what failed, keeping the failure: after an I/O error (a full disk) DuckDB has
    already ended the transaction, and "cannot rollback - no transaction is active" would hide
    the real cause ("No space left on device")."""
    with contextlib.suppress(duckdb.Error):
        con.execute("ROLLBACK")


_ALERT_SCHEMA = pa.schema(
    [
        ("server", pa.string()),
        ("check_name", pa.string()),
        ("subject", pa.string()),
        ("status", pa.string()),
        ("failures", pa.int32()),
        ("successes", pa.int32()),
        ("first_failed", pa.timestamp("us", tz="UTC")),
        ("alerted_at", pa.timestamp("us", tz="UTC")),
        ("last_cycle", pa.int64()),
    ]
)
_OUTBOX_SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("created", pa.timestamp("us", tz="UTC")),
        ("kind", pa.string()),
        ("server", pa.string()),
        ("installer", pa.string()),
        ("recipients", pa.list_(pa.string())),
        ("subject", pa.string()),
        ("body_text", pa.string()),
        ("body_html", pa.string()),
        ("status", pa.string()),
        ("attempts", pa.int32()),
        ("next_attempt", pa.timestamp("us", tz="UTC")),
        ("last_error", pa.string()),
        ("sent_at", pa.timestamp("us", tz="UTC")),
    ]
)


def alert_states_table(states: Sequence[AlertState]) -> pa.Table:
    return pa.Table.from_pylist(
        [{name: getattr(s, name) for name in _ALERT_SCHEMA.names} for s in states],
        schema=_ALERT_SCHEMA,
    )


def outbox_table(notifications: Sequence[Notification], now: datetime) -> pa.Table:
    """Pending rows, due now; the outbox worker takes them from here."""
    return pa.Table.from_pylist(
        [
            {
                "key": n.key,
                "created": n.created,
                "kind": n.kind,
                "server": n.server,
                "installer": n.installer,
                "recipients": list(n.recipients),
                "subject": n.subject,
                "body_text": n.body_text,
                "body_html": n.body_html,
                "status": "pending",
                "attempts": 0,
                "next_attempt": now,
                "last_error": None,
                "sent_at": None,
            }
            for n in notifications
        ],
        schema=_OUTBOX_SCHEMA,
    )
