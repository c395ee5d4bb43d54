"""The DuckDB store: migrations, batch writes, derived state tables, read-only queries, locking."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from console.monitor.sample import Sample
from console.store.database import ReadOnlyError, Store, StoreLockedError
from console.store.worker import StoreWorker

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def cycle(ts: datetime, states: dict[tuple[str, str], str]) -> list[Sample]:
    return [
        Sample(ts, server, "camera" if subject else "server_online", subject, state, 1.0, state)
        for (server, subject), state in states.items()
    ]


def test_migrations_are_versioned_and_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "nls.duckdb"
    with Store(path) as store:
        version = store.version()
        assert version >= 1
    with Store(path) as store:
        assert store.migrate() == version


LATE_MIGRATIONS = {
    2: "SELECT count(*) FROM information_schema.columns WHERE column_name = 'removed_by'",
    4: "SELECT count(*) FROM information_schema.tables WHERE table_name = 'incidents'",
}


@pytest.mark.parametrize("late", sorted(LATE_MIGRATIONS))
def test_a_migration_numbered_below_the_newest_applied_is_still_applied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, late: int
) -> None:
    """Migration numbers are handed out to parallel branches: a store that reached 5 before
    002 or 004 was merged gets it at its next start, once."""
    import sql

    path = tmp_path / "nls.duckdb"
    everything = sql.migrations()
    assert late in [v for v, _, _ in everything]
    monkeypatch.setattr(sql, "migrations", lambda: [m for m in everything if m[0] != late])
    with Store(path) as store:
        assert store.scalar(LATE_MIGRATIONS[late]) == 0
        newest = store.version()
    monkeypatch.setattr(sql, "migrations", lambda: everything)
    with Store(path) as store:
        assert store.version() == newest
        assert store.scalar(LATE_MIGRATIONS[late]) == 1
        versions = [
            r[0] for r in store.con.execute("SELECT version FROM schema_version").fetchall()
        ]
        assert sorted(versions) == sorted(v for v, _, _ in everything)
    with Store(path) as store:
        assert store.migrate() == newest


def test_a_store_from_before_float_values_reads_the_same_details(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migration 006 keeps values as FLOAT: a value too large for one becomes infinity (the
    store still opens), and a detail that would read differently from the rounded float keeps
    the text it had."""
    import sql

    path = tmp_path / "nls.duckdb"
    everything = sql.migrations()
    monkeypatch.setattr(sql, "migrations", lambda: [m for m in everything if m[0] < 6])
    with Store(path) as store:
        store.con.execute(
            "INSERT INTO series VALUES (1, 's1', 'disk_activity', '', ''), "
            "(2, 's1', 'cpu', '', ''), (3, 's1', 'other', '', '')"
        )
        store.con.execute(
            "INSERT INTO details VALUES (1, 'disk writing {vM} MB/s over 5 s'), "
            "(2, 'CPU at {v1}% over 5 s'), (3, 'measured {v0}')"
        )
        store.con.execute(
            "INSERT INTO detail_defaults VALUES ('disk_activity', 0, 1), ('cpu', 0, 2), "
            "('other', 0, 3)"
        )
        store.con.execute(
            "INSERT INTO sample_rows VALUES "
            "(1, TIMESTAMPTZ '2026-01-01 00:00:00+00', 1, 0, 62849999.97, NULL, NULL), "
            "(1, TIMESTAMPTZ '2026-01-01 00:00:00+00', 2, 0, 27.45, 12.3, NULL), "
            "(2, TIMESTAMPTZ '2026-01-01 00:15:00+00', 1, 0, 5000000.0, NULL, NULL), "
            "(2, TIMESTAMPTZ '2026-01-01 00:15:00+00', 3, 0, 1e39, NULL, NULL)"
        )
        store.create_views()
        before = store.query("SELECT ts, series, detail FROM samples ORDER BY ALL").to_pylist()
    monkeypatch.setattr(sql, "migrations", lambda: everything)
    with Store(path) as store:
        assert store.version() >= 6
        after = store.query("SELECT ts, series, detail FROM samples ORDER BY ALL").to_pylist()
        values = store.query("SELECT value, latency_ms FROM samples ORDER BY ts, series")
    assert after == before
    assert [d["detail"] for d in after][:2] == [
        "disk writing 62.8 MB/s over 5 s",
        "CPU at 27.4% over 5 s",
    ]
    assert values.to_pylist() == [
        {"value": 62850000.0, "latency_ms": None},  # 7 significant digits above 131,072
        {"value": 27.45, "latency_ms": 12.3},
        {"value": 5000000.0, "latency_ms": None},
        {"value": float("inf"), "latency_ms": None},
    ]


def test_cycle_round_trip_and_state_folding(tmp_path: Path) -> None:
    with Store(tmp_path / "nls.duckdb") as store:
        for n, state in enumerate(["ok", "fail", "fail", "ok"]):
            ts = T0 + timedelta(minutes=15 * n)
            samples = cycle(ts, {("s1", ""): "ok", ("s1", "cam-a"): state})
            store.write_cycle(n + 1, ts, ts, samples, [("s1", "cam-a", "Entrance")])
        assert store.query("SELECT count(*) AS n FROM samples").to_pylist() == [{"n": 8}]
        current = store.query(
            "SELECT state::VARCHAR AS state, consecutive, since FROM current_state "
            "WHERE subject = 'cam-a'"
        ).to_pylist()
        assert current == [{"state": "ok", "consecutive": 1, "since": T0 + timedelta(minutes=45)}]
        server = store.query(
            "SELECT consecutive FROM current_state WHERE check_name = 'server_online'"
        ).to_pylist()
        assert server == [{"consecutive": 4}]
        intervals = store.query(
            "SELECT state::VARCHAR AS state, started, ended FROM state_changes "
            "WHERE subject = 'cam-a' ORDER BY started"
        ).to_pylist()
        assert [(i["state"], i["started"], i["ended"]) for i in intervals] == [
            ("ok", T0, T0 + timedelta(minutes=15)),
            ("fail", T0 + timedelta(minutes=15), T0 + timedelta(minutes=45)),
            ("ok", T0 + timedelta(minutes=45), None),
        ]
        assert store.known_cameras() == {"s1": [("cam-a", "Entrance")]}
        assert store.next_cycle_id() == 5


def test_a_batch_stores_one_sample_per_key(tmp_path: Path) -> None:
    """A camera listed twice by its server gives two samples of one key in a cycle: the store
    keeps the newest, so every stored sample has one predecessor and one state to fold."""
    t = datetime(2026, 4, 1, tzinfo=UTC)
    twice = [
        Sample(t, "s1", "camera", "c1", "ok", 1.0, "Gate: online", "Gate"),
        Sample(t + timedelta(seconds=1), "s1", "camera", "c1", "fail", 0.0, "Gate: off", "Gate"),
    ]
    with Store(tmp_path / "nls.duckdb") as store:
        store.write_cycle(1, t, t, twice)
        rows = store.query("SELECT state::VARCHAR AS state, detail FROM samples").to_pylist()
        assert rows == [{"state": "fail", "detail": "Gate: off"}]
        assert store.scalar("SELECT consecutive FROM current_state") == 1


def test_a_large_cycle_is_one_batch(tmp_path: Path) -> None:
    samples = [
        Sample(T0, f"s{n // 30}", "camera", f"c{n}", "ok", 1.0, "online") for n in range(31_000)
    ]
    with Store(tmp_path / "nls.duckdb") as store:
        store.write_cycle(1, T0, T0, samples)
        assert store.query("SELECT count(*) AS n FROM samples").to_pylist() == [{"n": 31_000}]
        assert store.query("SELECT count(*) AS n FROM current_state").to_pylist() == [{"n": 31_000}]


@pytest.mark.parametrize(
    "text",
    [
        "DELETE FROM samples",
        "DROP TABLE samples",
        "SELECT 1; DROP TABLE samples",
        "COPY samples TO '/tmp/x.csv'",
        "ATTACH '/tmp/other.duckdb'",
        "CREATE TABLE x (a INT)",
        "SET threads = 1",
    ],
)
def test_writes_are_refused_before_they_run(tmp_path: Path, text: str) -> None:
    with Store(tmp_path / "nls.duckdb") as store:
        with pytest.raises(ReadOnlyError, match="read-only"):
            store.query(text)
        assert store.query(
            "SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'samples'"
        ).to_pylist() == [{"n": 1}]


def test_queries_that_only_read_are_allowed(tmp_path: Path) -> None:
    with Store(tmp_path / "nls.duckdb") as store:
        assert store.query("DESCRIBE samples").num_rows > 5
        assert store.query("WITH a AS (SELECT 1 AS x) SELECT x FROM a").to_pylist() == [{"x": 1}]


def _hold(
    path: str, ready: multiprocessing.synchronize.Event, done: multiprocessing.synchronize.Event
) -> None:  # type: ignore[name-defined]
    store = Store(Path(path))
    ready.set()
    done.wait(30)
    store.close()


def test_second_process_gets_a_clear_locked_error(tmp_path: Path) -> None:
    path = tmp_path / "nls.duckdb"
    Store(path).close()
    ctx = multiprocessing.get_context("spawn")
    ready, done = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold, args=(str(path), ready, done))
    holder.start()
    try:
        assert ready.wait(30)
        with pytest.raises(StoreLockedError, match="in use by another nls process"):
            Store(path, read_only=True)
    finally:
        done.set()
        holder.join(30)


def test_an_allowed_directory_is_the_engines_not_the_clients(tmp_path: Path) -> None:
    """The instance-wide file lock has one door, for the engine (e.g. Parquet archives); client
    statements are checked too, so they cannot use it."""
    archive = tmp_path / "archive"
    archive.mkdir()
    with Store(tmp_path / "nls.duckdb", allowed_directories=(str(archive),)) as store:
        store.con.execute(f"COPY (SELECT 1 AS x) TO '{archive}/a.parquet'")  # the engine may
        with pytest.raises(duckdb.Error, match="disabled by configuration"):
            store.con.execute(f"COPY (SELECT 1 AS x) TO '{tmp_path}/b.parquet'")
        with pytest.raises(duckdb.Error, match="locked"):
            store.con.execute("SET enable_external_access = true")
        for attack in (
            f"COPY (SELECT 2 AS x) TO '{archive}/c.parquet'",
            f"SELECT * FROM read_parquet('{archive}/a.parquet')",
            f"SELECT * FROM '{archive}/a.parquet'",
            f"EXPLAIN ANALYZE COPY (SELECT 3) TO '{archive}/d.csv'",
        ):
            with pytest.raises(ReadOnlyError, match="refused"):
                store.query(attack)
    assert sorted(p.name for p in archive.iterdir()) == ["a.parquet"]


async def test_the_store_closes_right_after_a_client_statement(tmp_path: Path) -> None:
    """A one-shot `nls sql` runs one statement and closes the store at once: the connection
    closes only after the statement's cursor has (else "connection is busy with another call")."""
    for n in range(20):
        worker = StoreWorker(tmp_path / f"nls-{n}.duckdb")
        await worker.open()
        table = await worker.client_table("SELECT * FROM range(10)")
        await worker.close()
        assert table.num_rows == 10
