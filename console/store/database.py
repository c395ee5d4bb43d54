"""The DuckDB store: one file, owned by one process, written a cycle at a time.

DuckDB lets one process hold the file; a second cannot even open it read-only. So the engine that
probes owns the store, and everything else (consoles, `nls sql`) asks that process.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

import sql
from console.clock import utcnow
from console.desk.store import apply_monitoring
from console.directory import Directory
from console.errors import BadRequest, QueryError, ReadOnlyError, StoreError, StoreLockedError
from console.mail.notify import Notification
from console.monitor.alerting import AlertState
from console.monitor.sample import Sample, latest_per_key
from console.store.compact import STATE_CODES, TemplateCache, as_float, render_sql, stored
from console.store.sandbox import ClientQuery, QueryLimits, check_client_sql, lock_down
from console.store.schema import SAMPLE_SCHEMA

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


def connect(
    path: Path,
    *,
    read_only: bool = False,
    allowed_directories: tuple[str, ...] = (),
    settings: dict[str, Any] | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open the file locked down (see `console.store.sandbox.lock_down`): no file access beyond
    `allowed_directories`, no extension downloads, configuration frozen (so `settings`, e.g.
    the checkpoint threshold, are given here, before the lock)."""
    try:
        con = duckdb.connect(
            str(path),
            read_only=read_only,
            config={"autoinstall_known_extensions": False, "TimeZone": "UTC", **(settings or {})},
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
        self,
        path: Path,
        *,
        read_only: bool = False,
        settings: dict[str, Any] | None = None,
        archive: Path | None = None,
        allowed_directories: tuple[str, ...] = (),
    ) -> None:
        self.path = path
        self.read_only = read_only
        self.archive = archive.resolve() if archive is not None else None
        if not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
        elif not path.exists():
            raise StoreError(f"{path}: no database yet; run `nls check` or start the console once")
        # The archive is the one folder the engine reads and writes besides the database; no
        # client statement may name it (console.store.sandbox, line 3).
        if self.archive is not None:
            allowed_directories = (*allowed_directories, str(self.archive))
        self.con = connect(
            path, read_only=read_only, allowed_directories=allowed_directories, settings=settings
        )
        self._series: dict[tuple[str, str, str], tuple[int, str]] = {}
        self._details: dict[str, int] = {}
        self._defaults: dict[tuple[str, int], int] = {}
        self._templates = TemplateCache()
        self._next_series = self._next_detail = 0
        if read_only:
            self._check_version()
        else:
            self.migrate()
            self.finish_archive()
            self.create_views()
            self._load_dictionaries()

    def close(self) -> None:
        self.con.close()

    def reader(self) -> Store:
        """A read-only view on a cursor of this connection, for use on another thread."""
        clone = object.__new__(Store)
        clone.path = self.path
        clone.archive = self.archive
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
        """Apply every migration not applied yet, by number, each in its own transaction (one
        added later with a lower number than the newest applied still runs); returns the new
        version."""
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS schema_version "
            "(version INTEGER PRIMARY KEY, name VARCHAR, applied TIMESTAMPTZ)"
        )
        applied = {v for (v,) in self.con.execute("SELECT version FROM schema_version").fetchall()}
        current = self.version()
        migrated = False
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
            current = max(current, version)
            applied.add(version)
            migrated = True
        if migrated:
            # A migration is never left to the write-ahead log: replayed after a crash, its
            # statements would meet a catalog that has moved on (or its temporary macros gone).
            self.con.execute("CHECKPOINT")
        return current

    # -- retention ------------------------------------------------------------------------

    def apply_retention(self, now: datetime, keep_months: int) -> list[Path]:
        """Move raw samples of months older than `keep_months` (before the current month's
        start, counted back) to zstd Parquet files in the archive folder, one per month; the
        `samples` view keeps reading them. Returns the files written."""
        if self.archive is None:
            return []
        cutoff = _month_start(now, -keep_months)
        months = [
            m
            for (m,) in self.con.execute(
                "SELECT DISTINCT date_trunc('month', ts) FROM sample_rows WHERE ts < ? ORDER BY 1",
                [cutoff],
            ).fetchall()
        ]
        written = []
        for month in months:
            written.append(self._archive_month(month))
        if written:
            self.create_views()
        return written

    def prune_rollups(self, now: datetime, keep_hourly_days: int) -> int:
        """Drop hourly rollups older than `keep_hourly_days`; returns how many. Only spans up to
        8 days read them (sql/queries/history.sql), longer ones read the daily rollups, and
        kept for 13 months they would cost more bytes per sample than the raw samples do."""
        cutoff = (now - timedelta(days=keep_hourly_days)).replace(minute=0, second=0, microsecond=0)
        return int(self.scalar("DELETE FROM rollup_hour WHERE hour < ?", [cutoff]) or 0)

    def compact_hour(self, hour: datetime) -> int:
        """Rewrite one hour of raw samples in one piece; returns the rows rewritten.

        Slot batches reach the file a checkpoint at a time, and DuckDB leaves each checkpoint's
        last block part empty: raw rows written live take about 2.2 bytes per sample, the same
        rows written at once 1.2 (bench/bench_store_write.py --compact). The daemon rewrites
        the previous day hour by hour each night (about 0.4 s per hour at 10,000 servers), so
        probing batches interleave. The rows, their order and predecessors stay the same."""
        start = hour.replace(minute=0, second=0, microsecond=0)
        bounds = {"start": start, "end": start + timedelta(hours=1)}
        where = "ts >= $start AND ts < $end"
        con = self.con
        con.execute("BEGIN")
        try:
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE compact_rows AS SELECT * FROM sample_rows "
                f"WHERE {where}",
                bounds,
            )
            rows = int(self.scalar("SELECT count(*) FROM compact_rows"))
            if rows:
                con.execute(f"DELETE FROM sample_rows WHERE {where}", bounds)
                con.execute(
                    "INSERT INTO sample_rows SELECT * FROM compact_rows ORDER BY ts, series"
                )
            con.execute("DROP TABLE compact_rows")
            con.execute("COMMIT")
        except Exception:
            _rollback(con)
            raise
        return rows

    def _archive_month(self, month: datetime) -> Path:
        assert self.archive is not None
        self.archive.mkdir(parents=True, exist_ok=True)
        end = _month_start(month, 1)
        name = f"samples-{month:%Y-%m}"
        target = self.archive / f"{name}.parquet"
        n = 1
        while target.exists():
            n += 1
            target = self.archive / f"{name}-{n}.parquet"
        partial = target.with_suffix(".parquet.part")
        where = "ts >= $start AND ts < $end"
        bounds = {"start": month, "end": end}
        self.con.execute(
            f"COPY (SELECT * FROM sample_rows WHERE {where} ORDER BY ts, series) "
            f"TO '{_quote(partial)}' (FORMAT parquet, COMPRESSION zstd)",
            bounds,
        )
        # The file is whole before it gets its name, and the rows go only once it has it: a
        # crash in between leaves the rows in both places, and finish_archive() keeps one.
        os.replace(partial, target)
        self.con.execute(f"DELETE FROM sample_rows WHERE {where}", bounds)
        return target

    def finish_archive(self) -> None:
        """Drop rows still in the database for months whose archive file exists (a crash
        between writing the file and deleting the rows)."""
        for path in self.archive_files():
            month = _archived_month(path)
            if month is None:
                continue
            count = self.con.execute(
                "SELECT count(*) FROM read_parquet(?) WHERE ts >= ? AND ts < ?",
                [str(path), month, _month_start(month, 1)],
            ).fetchone()
            if count and count[0]:
                self.con.execute(
                    "DELETE FROM sample_rows WHERE ts >= ? AND ts < ? AND cycle IN "
                    "(SELECT DISTINCT cycle FROM read_parquet(?))",
                    [month, _month_start(month, 1), str(path)],
                )
        for stale in self.archive.glob("*.parquet.part") if self.archive else ():
            stale.unlink(missing_ok=True)

    def archive_files(self) -> list[Path]:
        """Parquet files of archived months, oldest first."""
        if self.archive is None or not self.archive.is_dir():
            return []
        return sorted(self.archive.glob("samples-*.parquet"))

    VIEWS = ("samples", "sample_states")
    """The views create_views() makes (beside the tables the migrations create)."""

    def create_views(self) -> None:
        """(Re)create the `samples` view over `sample_rows` and the archived months: the same
        columns as the version-1 table, so every query on `samples` keeps working."""
        files = self.archive_files()
        source = "SELECT * FROM sample_rows"
        if files:
            listed = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
            # by name: months archived before migration 006 hold DOUBLE values, before 007 no
            # predecessor columns (NULL here)
            source += (
                f" UNION ALL BY NAME SELECT * FROM read_parquet([{listed}], union_by_name = true)"
            )
        # What accounting reads of every raw sample, without the joins that render a detail
        # (a month by camera reads some 90 million rows: bench/bench_availability.py), with
        # each sample's predecessor unless a month archived before migration 007 lacks it (the
        # accounting then orders samples itself: console/reports/accounting.py _layout).
        prev = ""
        raw = self.con.execute(
            "SELECT count(*) FROM information_schema.columns "
            "WHERE table_name = 'sample_rows' AND column_name = 'gap_us'"
        ).fetchall()
        if raw[0][0] and all("gap_us" in pq.read_schema(f).names for f in files):
            prev = (
                ", r.gap_us, CAST(CASE r.prev_state WHEN 0 THEN 'ok' WHEN 1 THEN 'fail' "
                "WHEN 2 THEN 'unknown' END AS sample_state) AS prev_state, r.prev_failures, "
                "r.prev_failed_since"
            )
        self.con.execute(
            f"""
            CREATE OR REPLACE VIEW sample_states AS
            SELECT r.ts, r.series,
                   CAST(CASE r.state WHEN 0 THEN 'ok' WHEN 1 THEN 'fail' ELSE 'unknown' END
                        AS sample_state) AS state{prev}
            FROM ({source}) AS r
            """
        )
        # FLOAT values back to what was written (migration 006); details render from those.
        value, latency = "round(r.value::DOUBLE, 2)", "round(r.latency_ms::DOUBLE, 1)"
        detail = render_sql("d.template", value, latency, "s.label")
        self.con.execute(
            f"""
            CREATE OR REPLACE VIEW samples AS
            SELECT r.ts, r.cycle, s.server, s.check_name, s.subject,
                   CAST(CASE r.state WHEN 0 THEN 'ok' WHEN 1 THEN 'fail' ELSE 'unknown' END
                        AS sample_state) AS state,
                   {value} AS value, {latency} AS latency_ms, {detail} AS detail, r.series
            FROM ({source}) AS r
            JOIN series AS s ON s.id = r.series
            LEFT JOIN detail_defaults AS dd
                   ON dd.check_name = s.check_name AND dd.state = r.state
            LEFT JOIN details AS d ON d.id = coalesce(r.detail, dd.detail)
            """
        )

    def _load_dictionaries(self) -> None:
        self._series = {
            (server, check, subject): (sid, label)
            for sid, server, check, subject, label in self.con.execute(
                "SELECT id, server, check_name, subject, label FROM series"
            ).fetchall()
        }
        self._details = dict(self.con.execute("SELECT template, id FROM details").fetchall())
        self._next_series = self._next_detail = 0
        self._defaults = {
            (check, state): detail
            for check, state, detail in self.con.execute(
                "SELECT check_name, state, detail FROM detail_defaults"
            ).fetchall()
        }

    def _next_ids(self) -> tuple[int, int]:
        """The next free series and detail ids, found once (scanning 300,000 series per batch
        cost a tenth of a second of GIL) and then carried forward by each committed batch."""
        if not self._next_series:
            self._next_series = max((v[0] for v in self._series.values()), default=0) + 1
            self._next_detail = max(self._details.values(), default=0) + 1
        return self._next_series, self._next_detail

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
        samples = latest_per_key(samples)
        encoded = self._encode(cycle, samples)
        batch = encoded.batch
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
            encoded.insert_dictionaries(con)
            con.execute(sql.query("append_samples"))
            t2 = time.perf_counter()
            con.execute(sql.query("fold_state_changes"))
            con.execute(sql.query("fold_current_state"))
            # A sample older than its series' latest (a `nls check` racing a slot, a clock step
            # back) took the wrong predecessor: its series' are recomputed (rare).
            con.execute(
                "CREATE OR REPLACE TEMP TABLE refold_series AS SELECT DISTINCT series AS id "
                "FROM sample_rows WHERE cycle = ? AND gap_us <= 0",
                [cycle],
            )
            if self.scalar("SELECT count(*) FROM refold_series"):
                con.execute(sql.query("refold_predecessors"))
            else:
                con.execute("DROP TABLE refold_series")
            if samples:
                first = min(s.ts for s in samples)
                hour = first.replace(minute=0, second=0, microsecond=0)
                run_script(
                    con, sql.query("fold_rollups"), {"hour": hour, "day": hour.replace(hour=0)}
                )
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
            encoded.adopt(self)
        except Exception:
            _rollback(con)
            raise
        finally:
            with contextlib.suppress(duckdb.Error):
                con.unregister("batch")
                con.unregister("seen")
        return {"arrow": t1 - t0, "append": t2 - t1, "fold_commit": t3 - t2, "total": t3 - t0}

    def _encode(self, cycle: int | Sequence[int], samples: Sequence[Sample]) -> _Encoded:
        return _Encoded(self, cycle, samples)

    def import_samples(self, incoming: pa.Table) -> tuple[int, int]:
        """Append imported samples not stored yet (raw or archived) through the batch write
        path (series, detail templates, rollups), then recompute the derived tables of the
        series they touch from their whole history; one transaction. Returns (added, series).
        `incoming`: console.reports.importer.IMPORT_SCHEMA, validated and deduplicated."""
        con = self.con
        con.execute("BEGIN TRANSACTION")
        encoded: _Encoded | None = None
        try:
            con.register("imp_in", incoming)
            con.execute(sql.query("import_new"))
            self._refuse_archived_months()
            new = con.sql("SELECT * FROM imp_new ORDER BY ts").to_arrow_table()
            series = int(self.scalar("SELECT count(*) FROM imp_keys"))
            if new.num_rows:
                rows = new.to_pylist()
                encoded = self._encode(
                    [r["cycle"] for r in rows],
                    [
                        Sample(
                            ts=r["ts"],
                            server=r["server"],
                            check=r["check_name"],
                            subject=r["subject"],
                            state=r["state"],
                            value=r["value"],
                            detail=r["detail"] or "",
                            latency_ms=r["latency_ms"],
                        )
                        for r in rows
                    ],
                )
                encoded.insert_dictionaries(con)
                con.register("batch", encoded.batch)
                con.execute(
                    "INSERT INTO sample_rows (cycle, ts, series, state, value, latency_ms, detail) "
                    "SELECT cycle, ts, series, state_code, value_f, latency_f, detail_id "
                    "FROM batch ORDER BY ts, series"
                )
                first = new.column("ts")[0].as_py()
                hour = first.replace(minute=0, second=0, microsecond=0)
                run_script(
                    con, sql.query("fold_rollups"), {"hour": hour, "day": hour.replace(hour=0)}
                )
                con.execute(sql.query("import_refold"))
                con.execute(
                    "CREATE TEMP TABLE refold_series AS SELECT s.id FROM series AS s "
                    "SEMI JOIN imp_keys USING (server, check_name, subject)"
                )
                con.execute(sql.query("refold_predecessors"))
            con.execute("DROP TABLE imp_new")
            con.execute("DROP TABLE imp_keys")
            con.execute("COMMIT")
        except Exception:
            _rollback(con)
            raise
        finally:
            with contextlib.suppress(duckdb.Error):
                con.unregister("imp_in")
                con.unregister("batch")
        if encoded is not None:
            encoded.adopt(self)
        return new.num_rows, series

    def _refuse_archived_months(self) -> None:
        """Archived months are immutable Parquet files: a sample landing in one (or before
        one) could not be stored there, nor could the predecessors of the samples after it."""
        months = [m for m in map(_archived_month, self.archive_files()) if m is not None]
        if not months:
            return
        boundary = _month_start(max(months), 1)
        early = self.scalar("SELECT count(*) FROM imp_new WHERE ts < ?", [boundary])
        if early:
            raise BadRequest(
                f"{early} samples fall before {boundary:%Y-%m-%d}, in months already archived "
                "to Parquet (keep_raw_months): they cannot be added there; nothing was imported"
            )

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


def run_script(con: duckdb.DuckDBPyConnection, text: str, params: dict[str, Any]) -> None:
    """Run a .sql file of several statements; each gets the named parameters it uses."""
    for statement in (part.strip() for part in text.split(";\n")):
        body = "\n".join(
            line for line in statement.splitlines() if not line.lstrip().startswith("--")
        ).strip()
        if not body:
            continue
        used = {k: v for k, v in params.items() if f"${k}" in body}
        con.execute(body, used or None)


def check_read_only(text: str) -> None:
    """Refuse anything a client may not run, before it runs (ReadOnlyError says why)."""
    check_client_sql(text)


SAMPLE_SCHEMA_STORED = pa.schema(
    [
        *SAMPLE_SCHEMA,
        ("series", pa.int32()),
        ("state_code", pa.uint8()),
        ("value_f", pa.float32()),
        ("latency_f", pa.float32()),
        ("detail_id", pa.int32()),
    ]
)


class _Encoded:
    """One batch in both forms: the readable columns (the folds read them) and the compact ids
    (what `sample_rows` keeps), plus the dictionary entries it adds, adopted after COMMIT."""

    def __init__(self, store: Store, cycle: int | Sequence[int], samples: Sequence[Sample]) -> None:
        """`cycle`: the batch's, or one per sample (imported history).

        Column at a time (comprehensions and dict lookups, no per-sample method calls): this
        runs on the store thread holding the GIL, beside the probing loop, for some 17,000
        samples per slot at 10,000 servers."""
        series = store._series
        details = store._details
        defaults = store._defaults
        next_series, next_detail = store._next_ids()
        self.next_ids = (next_series, next_detail)
        self.new_series: dict[tuple[str, str, str], tuple[int, str]] = {}
        self.first_seen: dict[tuple[str, str, str], datetime] = {}
        self.new_details: dict[str, int] = {}
        self.new_defaults: dict[tuple[str, int], int] = {}
        servers = [s.server for s in samples]
        checks = [s.check for s in samples]
        subjects = [s.subject for s in samples]
        states = [s.state for s in samples]
        keys = list(zip(servers, checks, subjects, strict=True))
        found: list[tuple[int, str] | None] = list(map(series.get, keys))

        def new_series(i: int) -> tuple[int, str]:
            self.first_seen[keys[i]] = samples[i].ts
            return (next_series + len(self.new_series), samples[i].label)

        _fill_missing(found, keys, self.new_series, new_series)
        found_ = cast("list[tuple[int, str]]", found)
        # round_value(), inlined: round() keeps None's place, and infinities and NaN as they are.
        values = [None if s.value is None else round(s.value, 2) for s in samples]
        latencies = [None if s.latency_ms is None else round(s.latency_ms, 1) for s in samples]
        value_f, latency_f = as_float(values), as_float(latencies)
        details_ = [s.detail for s in samples]
        # Templates are checked against the numbers the view will render (FLOAT, rounded).
        templates = store._templates.many(
            details_, stored(value_f, 2), stored(latency_f, 1), [f[1] for f in found_]
        )
        dids: list[int | None] = list(map(details.get, templates))
        _fill_missing(
            dids, templates, self.new_details, lambda _: next_detail + len(self.new_details)
        )
        codes = [STATE_CODES[state] for state in states]
        usual_keys = list(zip(checks, codes, strict=True))
        usuals: list[int | None] = list(map(defaults.get, usual_keys))
        _fill_missing(usuals, usual_keys, self.new_defaults, lambda i: cast(int, dids[i]))
        self.next_ids = (next_series + len(self.new_series), next_detail + len(self.new_details))
        n = len(samples)
        self.batch = pa.Table.from_pydict(
            {
                "ts": [s.ts for s in samples],
                "cycle": [cycle] * n if isinstance(cycle, int) else list(cycle),
                "server": servers,
                "check_name": checks,
                "subject": subjects,
                "state": states,
                "value": values,
                "latency_ms": latencies,
                "detail": details_,
                "series": [f[0] for f in found_],
                "state_code": codes,
                "value_f": value_f,
                "latency_f": latency_f,
                "detail_id": [
                    None if did == usual else did for did, usual in zip(dids, usuals, strict=True)
                ],
            },
            schema=SAMPLE_SCHEMA_STORED,
        )

    def insert_dictionaries(self, con: duckdb.DuckDBPyConnection) -> None:
        """New series, templates and defaults, through Arrow (a new fleet has 300,000 series:
        row-at-a-time inserts took seconds)."""
        if self.new_series:
            items = self.new_series.items()
            _insert(
                con,
                "series",
                {
                    "id": pa.array([sid for _, (sid, _) in items], pa.int32()),
                    "server": [key[0] for key, _ in items],
                    "check_name": [key[1] for key, _ in items],
                    "subject": [key[2] for key, _ in items],
                    "label": [label for _, (_, label) in items],
                    "first_ts": pa.array(
                        [self.first_seen[key] for key, _ in items], pa.timestamp("us", tz="UTC")
                    ),
                },
            )
        if self.new_details:
            _insert(
                con,
                "details",
                {
                    "id": pa.array(list(self.new_details.values()), pa.int32()),
                    "template": list(self.new_details),
                },
            )
        if self.new_defaults:
            keys = list(self.new_defaults)
            _insert(
                con,
                "detail_defaults",
                {
                    "check_name": [check for check, _ in keys],
                    "state": pa.array([code for _, code in keys], pa.uint8()),
                    "detail": pa.array(list(self.new_defaults.values()), pa.int32()),
                },
            )

    def adopt(self, store: Store) -> None:
        store._next_series, store._next_detail = self.next_ids
        store._series.update(self.new_series)
        store._details.update(self.new_details)
        store._defaults.update(self.new_defaults)


def _fill_missing(
    found: list[Any], keys: Sequence[Any], pending: dict[Any, Any], make: Callable[[int], Any]
) -> None:
    """Fill the misses (None) of dictionary lookups `found` of `keys`: from this batch's new
    entries `pending`, or with a new entry `make(i)` (i: the key's first sample) added to it."""
    if None not in found:
        return
    for i, hit in enumerate(found):
        if hit is None:
            key = keys[i]
            hit = pending.get(key)
            if hit is None:
                hit = pending[key] = make(i)
            found[i] = hit


def _insert(con: duckdb.DuckDBPyConnection, table: str, columns: dict[str, Any]) -> None:
    con.register("incoming_rows", pa.table(columns))
    try:
        con.execute(f"INSERT INTO {table} SELECT * FROM incoming_rows")
    finally:
        con.unregister("incoming_rows")


def samples_table(cycle: int, samples: Sequence[Sample]) -> pa.Table:
    """A batch's samples as an Arrow table with the `samples` view's columns."""
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


def store_options(config: Config) -> dict[str, Any]:
    """Store keyword arguments from the configuration's [database] table."""
    db = config.database
    settings: dict[str, Any] = {}
    if db.checkpoint_threshold:
        settings["checkpoint_threshold"] = db.checkpoint_threshold
    return {"settings": settings, "archive": config.archive_path}


def api_url(config: Config, server: Any) -> str:
    return server.eocortex_url or f"http://{server.address}:{config.eocortex.port}"


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back what failed, keeping the failure: after an I/O error (a full disk) DuckDB has
    already ended the transaction, and "cannot rollback - no transaction is active" would hide
    the real cause ("No space left on device")."""
    with contextlib.suppress(duckdb.Error):
        con.execute("ROLLBACK")


def _archived_month(path: Path) -> datetime | None:
    """The month an archive file holds, from its name (samples-YYYY-MM[-n].parquet)."""
    try:
        return datetime.strptime(path.stem[8:15], "%Y-%m").replace(tzinfo=UTC)
    except ValueError:
        return None


def _month_start(moment: datetime, months: int = 0) -> datetime:
    """The first instant (UTC) of the month `months` after the one holding `moment`."""
    index = moment.year * 12 + moment.month - 1 + months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def _quote(path: Path) -> str:
    return str(path).replace("'", "''")


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
    """Column at a time (a slot has some 17,000 states: a dict per row held the GIL for a
    tenth of a second)."""
    return pa.Table.from_pydict(
        {
            "server": [s.server for s in states],
            "check_name": [s.check_name for s in states],
            "subject": [s.subject for s in states],
            "status": [s.status for s in states],
            "failures": [s.failures for s in states],
            "successes": [s.successes for s in states],
            "first_failed": [s.first_failed for s in states],
            "alerted_at": [s.alerted_at for s in states],
            "last_cycle": [s.last_cycle for s in states],
        },
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
