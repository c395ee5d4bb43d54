"""History import from CSV: all or nothing, bad rows by line number, idempotent, derived
tables recomputed for the series it touches."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from console.monitor.sample import Sample
from console.reports.accounting import availability
from console.reports.importer import SampleImportError, import_samples
from console.sla.terms import AvailabilityTerms
from console.store.database import Store
from tests.availability_data import scope, utc

HEADER = "ts,server,check,subject,state,value,detail\n"
ROWS = [
    "2026-04-01T00:00:00Z,s1,server_online,,ok,1,online",
    "2026-04-01T00:15:00Z,s1,server_online,,fail,0,server offline",
    "2026-04-01T00:30:00Z,s1,server_online,,fail,0,server offline",
    "2026-04-01T00:45:00Z,s1,server_online,,ok,1,online",
    '2026-04-01T00:00:00+02:00,s1,camera,cam-1,ok,1,"Door, north: online"',
    "2026-04-01T00:15:00Z,s1,camera,cam-1,unknown,,not checked (server down)",
]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "nls.duckdb") as s:
        yield s


def write(tmp_path: Path, lines: list[str], name: str = "h.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_file_with_one_bad_row_imports_nothing(db: Store, tmp_path: Path) -> None:
    lines = [*ROWS]
    lines[3] = "2026-04-01T00:45:00Z,s1,server_online,,down,1,online"  # line 5 of the file
    path = write(tmp_path, lines)
    with pytest.raises(SampleImportError) as caught:
        import_samples(db, path, now=lambda: utc(2026, 5, 1))
    assert str(caught.value).splitlines() == [
        f"{path} line 5: state 'down' is not one of ok, fail, unknown",
        "nothing was imported; fix the rows above and import the file again",
    ]
    assert db.query("SELECT count(*) AS n FROM samples").to_pylist() == [{"n": 0}]


def test_every_bad_row_is_named(db: Store, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            "2026-04-01 00:00:00,s1,server_online,,ok,1,",
            "2026-04-01T00:15:00Z,,server_online,,ok,1,",
            "2026-04-01T00:30:00Z,s1,Server Online,,ok,1,",
            "2026-04-01T00:45:00Z,s1,server_online,,ok,high,",
            "2026-04-01T01:00:00Z,s9,server_online,,ok,1,",
            "2036-04-01T01:00:00Z,s1,server_online,,ok,1,",
        ],
    )
    with pytest.raises(SampleImportError) as caught:
        import_samples(db, path, known_servers={"s1"}, now=lambda: utc(2026, 5, 1))
    assert [p.split(": ", 1)[1] for p in caught.value.problems] == [
        "ts '2026-04-01 00:00:00' has no time zone; add Z (UTC) or an offset",
        "server '' is not a server id",
        "check 'Server Online' is not a check name such as server_online",
        "value 'high' is not a number (or empty)",
        "server 's9' is not in the configuration; add it first",
        "ts '2036-04-01T01:00:00Z' lies in the future",
    ]
    assert [p.split(": ", 1)[0].rsplit(" ", 1)[1] for p in caught.value.problems] == [
        "2",
        "3",
        "4",
        "5",
        "6",
        "7",
    ]


def test_wrong_columns_are_refused(db: Store, tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text("ts,server,check,state\n", encoding="utf-8")
    with pytest.raises(SampleImportError, match="line 1: missing column"):
        import_samples(db, path)


def test_import_twice_adds_nothing_and_keeps_derived_tables_right(
    db: Store, tmp_path: Path
) -> None:
    path = write(tmp_path, ROWS)
    first = import_samples(db, path, now=lambda: utc(2026, 5, 1))
    assert (first.rows, first.added, first.skipped, first.series) == (6, 6, 0, 2)
    second = import_samples(db, path, now=lambda: utc(2026, 5, 1))
    assert (second.added, second.skipped) == (0, 6)
    assert db.query("SELECT count(*) AS n FROM samples").to_pylist() == [{"n": 6}]
    current = db.query(
        "SELECT check_name, state::VARCHAR AS state, since, last_ts, consecutive "
        "FROM current_state ORDER BY check_name"
    ).to_pylist()
    assert current == [
        {
            "check_name": "camera",
            "state": "unknown",
            "since": utc(2026, 4, 1, 0, 15),
            "last_ts": utc(2026, 4, 1, 0, 15),
            "consecutive": 1,
        },
        {
            "check_name": "server_online",
            "state": "ok",
            "since": utc(2026, 4, 1, 0, 45),
            "last_ts": utc(2026, 4, 1, 0, 45),
            "consecutive": 1,
        },
    ]
    changes = db.query(
        "SELECT state::VARCHAR AS state, started, ended FROM state_changes "
        "WHERE check_name = 'server_online' ORDER BY started"
    ).to_pylist()
    assert [(c["state"], c["started"], c["ended"]) for c in changes] == [
        ("ok", utc(2026, 4, 1), utc(2026, 4, 1, 0, 15)),
        ("fail", utc(2026, 4, 1, 0, 15), utc(2026, 4, 1, 0, 45)),
        ("ok", utc(2026, 4, 1, 0, 45), None),
    ]
    # the camera's time zone offset was converted: 00:00+02:00 is 03-31 22:00Z
    assert db.query("SELECT camera, first_seen FROM cameras").to_pylist() == [
        {"camera": "cam-1", "first_seen": utc(2026, 3, 31, 22)}
    ]


def test_older_history_lands_before_live_samples(db: Store, tmp_path: Path) -> None:
    t = utc(2026, 4, 1, 1)
    db.write_cycle(1, t, t, [Sample(t, "s1", "server_online", "", "ok", 1.0, "online")])
    import_samples(db, write(tmp_path, ROWS[:4]), now=lambda: utc(2026, 5, 1))
    current = db.query(
        "SELECT last_ts, consecutive FROM current_state WHERE check_name = 'server_online'"
    ).to_pylist()
    # 00:45 ok and the live 01:00 ok: one run of two
    assert current == [{"last_ts": t, "consecutive": 2}]
    changes = db.query(
        "SELECT count(*) AS n FROM state_changes "
        "WHERE check_name = 'server_online' AND ended IS NULL"
    ).to_pylist()
    assert changes == [{"n": 1}]
    # the imported failure counts in the month: 00:15-00:45 = 30 min
    row = availability(
        db, AvailabilityTerms(timezone="UTC"), scope(("s1", "a", "i")), "2026-04"
    ).to_pylist()[0]
    assert row["downtime_minutes"] == 30.0


def test_an_import_keeps_the_live_latest_value_of_a_series(db: Store, tmp_path: Path) -> None:
    """The grid shows current_state's value: an import of older history does not swap a
    probe's disk rate for the stored FLOAT's 7 digits."""
    t = utc(2026, 4, 1, 1)
    rate = 123_456_789.0
    live = Sample(t, "s1", "disk_activity", "", "ok", rate, "disk writing 123.5 MB/s over 5 s")
    db.write_cycle(1, t, t, [live])
    old = "2026-04-01T00:00:00Z,s1,disk_activity,,ok,1000000,disk writing 1.0 MB/s over 5 s"
    import_samples(db, write(tmp_path, [old]), now=lambda: utc(2026, 5, 1))
    current = db.query(
        "SELECT value, consecutive FROM current_state WHERE check_name = 'disk_activity'"
    ).to_pylist()
    assert current == [{"value": rate, "consecutive": 2}]
