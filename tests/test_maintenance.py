"""Maintenance windows: scopes, one-off and recurring occurrences, DST, and validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest

from console.monitor.maintenance import (
    DuckMaintenanceStore,
    MaintenanceError,
    MaintenanceWindow,
    active_window,
    lookup,
)

ANNOUNCED = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def one_off(**kw) -> MaintenanceWindow:
    base = dict(
        id=1,
        scope_kind="server",
        scope_id="s1",
        reason="disk swap",
        announced_at=ANNOUNCED,
        starts=datetime(2026, 3, 10, 8, 0, tzinfo=UTC),
        ends=datetime(2026, 3, 10, 10, 0, tzinfo=UTC),
    )
    return MaintenanceWindow(**(base | kw))


def recurring(cron: str = "30 2 * * *", minutes: int = 60, **kw) -> MaintenanceWindow:
    base = dict(
        id=2,
        scope_kind="server",
        scope_id="s1",
        reason="nightly reboot",
        announced_at=ANNOUNCED,
        cron=cron,
        timezone="Europe/Brussels",
        duration_min=minutes,
    )
    return MaintenanceWindow(**(base | kw))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_one_off_window_is_half_open() -> None:
    w = one_off()
    assert w.occurrence_at(utc(2026, 3, 10, 7, 59)) is None
    assert w.occurrence_at(utc(2026, 3, 10, 8, 0)) == (w.starts, w.ends)
    assert w.occurrence_at(utc(2026, 3, 10, 9, 59)) is not None
    assert w.occurrence_at(utc(2026, 3, 10, 10, 0)) is None


def test_removed_window_stops_applying_from_its_removal() -> None:
    w = one_off(removed_at=utc(2026, 3, 10, 9, 0))
    assert w.occurrence_at(utc(2026, 3, 10, 8, 30)) is not None
    assert w.occurrence_at(utc(2026, 3, 10, 9, 0)) is None


def test_active_window_matches_scope_and_prefers_the_most_specific() -> None:
    by_installer = one_off(id=3, scope_kind="installer", scope_id="in1", reason="installer")
    by_customer = one_off(id=4, scope_kind="customer", scope_id="cu1", reason="customer")
    by_server = one_off(id=5, scope_id="s1", reason="server")
    other = one_off(id=6, scope_id="s2", reason="other server")
    at = utc(2026, 3, 10, 9, 0)
    windows = [by_installer, by_customer, other]
    assert active_window(windows, "s1", "cu1", "in1", at) is by_customer
    assert active_window([*windows, by_server], "s1", "cu1", "in1", at) is by_server
    assert active_window([by_installer], "s9", "cu9", "in1", at) is by_installer
    assert active_window(windows, "s1", "cu2", "in2", at) is None
    assert active_window(windows, "s1", "cu1", "in1", utc(2026, 3, 11)) is None


def test_recurring_window_in_local_time_across_winter_and_summer() -> None:
    w = recurring()
    assert w.occurrence_at(utc(2026, 1, 15, 1, 45)) == (
        utc(2026, 1, 15, 1, 30),
        utc(2026, 1, 15, 2, 30),
    )
    assert w.occurrence_at(utc(2026, 1, 15, 2, 30)) is None
    assert w.occurrence_at(utc(2026, 7, 15, 0, 45)) == (
        utc(2026, 7, 15, 0, 30),
        utc(2026, 7, 15, 1, 30),
    )
    assert w.occurrence_at(utc(2026, 7, 15, 1, 45)) is None


def test_spring_forward_missing_start_runs_right_after_the_gap() -> None:
    """2026-03-29 02:30 does not exist in Brussels; the window starts at 03:30 CEST (01:30Z)."""
    w = recurring()
    assert w.occurrence_at(utc(2026, 3, 29, 1, 0)) is None
    assert w.occurrence_at(utc(2026, 3, 29, 1, 29)) is None
    for minute in (30, 45, 89):
        at = utc(2026, 3, 29, 1, 0) + timedelta(minutes=minute)
        assert w.occurrence_at(at) == (utc(2026, 3, 29, 1, 30), utc(2026, 3, 29, 2, 30))
    assert w.occurrence_at(utc(2026, 3, 29, 2, 30)) is None
    assert w.occurrences(utc(2026, 3, 28), utc(2026, 3, 31)) == [
        (utc(2026, 3, 28, 1, 30), utc(2026, 3, 28, 2, 30)),
        (utc(2026, 3, 29, 1, 30), utc(2026, 3, 29, 2, 30)),
        (utc(2026, 3, 30, 0, 30), utc(2026, 3, 30, 1, 30)),
    ]


def test_fall_back_repeated_start_opens_the_window_once() -> None:
    """2026-10-25 02:30 happens twice in Brussels; the window starts at the first."""
    w = recurring()
    assert w.occurrences(utc(2026, 10, 25), utc(2026, 10, 26)) == [
        (utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30)),
    ]
    assert w.occurrence_at(utc(2026, 10, 25, 1, 45)) is None


def test_day_of_week_uses_crontab_numbering() -> None:
    sunday = recurring("0 2 * * 0")
    assert {
        start.weekday() for start, _ in sunday.occurrences(utc(2026, 5, 1), utc(2026, 6, 1))
    } == {6}
    weekdays = recurring("0 22 * * 1-5", minutes=30)
    starts = [s for s, _ in weekdays.occurrences(utc(2026, 5, 4), utc(2026, 5, 11))]
    assert [s.astimezone(UTC).day for s in starts] == [4, 5, 6, 7, 8]
    assert len(recurring("0 2 * * 7").occurrences(utc(2026, 5, 1), utc(2026, 6, 1))) == 5
    assert len(recurring("0 2 * * sat,sun").occurrences(utc(2026, 5, 1), utc(2026, 6, 1))) == 10


def test_recurring_window_bounded_by_starts_and_ends() -> None:
    w = recurring(starts=utc(2026, 4, 1), ends=utc(2026, 4, 3))
    found = w.occurrences(utc(2026, 3, 1), utc(2026, 5, 1))
    assert [s.day for s, _ in found] == [1, 2]
    assert w.occurrence_at(utc(2026, 3, 31, 0, 45)) is None


def test_a_long_recurring_window_covers_midnight() -> None:
    w = recurring("0 22 * * *", minutes=240)
    assert w.occurrence_at(utc(2026, 1, 16, 0, 30)) == (
        utc(2026, 1, 15, 21, 0),
        utc(2026, 1, 16, 1, 0),
    )


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        (dict(cron="30 2 * *"), "has 4 fields; expected 5"),
        (dict(cron="61 2 * * *"), "cron '61 2 * * *' is invalid"),
        (dict(cron="0 2 1 * 1"), "restricts both day-of-month and day-of-week"),
        (dict(cron="0 2 * * 8"), "day-of-week '8' is not 0-7"),
        (dict(cron="0 2 * * 5-1"), "runs backwards"),
        (dict(timezone="Europe/Bruxelles"), "'Europe/Bruxelles' is not a known IANA time zone"),
        (dict(timezone=None), "needs a timezone"),
        (dict(duration_min=0), "duration_min must be a positive"),
        (dict(duration_min=60 * 24 * 8), "longer than 7 days"),
        (dict(reason=" "), "reason is empty"),
        (dict(scope_kind="site"), "scope_kind 'site' is not one of"),
        (dict(starts=datetime(2026, 4, 1)), "starts 2026-04-01T00:00:00 has no time zone"),
    ],
)
def test_recurring_validation_says_what_is_wrong(kw: dict, message: str) -> None:
    with pytest.raises(MaintenanceError, match=message.replace("(", r"\(").replace("*", r"\*")):
        recurring(**kw)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        (dict(ends=None), "needs both starts and ends"),
        (dict(ends=datetime(2026, 3, 10, 7, 0, tzinfo=UTC)), "is not after starts"),
        (dict(duration_min=30), "only apply to a recurring window"),
    ],
)
def test_one_off_validation_says_what_is_wrong(kw: dict, message: str) -> None:
    with pytest.raises(MaintenanceError, match=message):
        one_off(**kw)


def test_aware_times_in_any_zone_compare_correctly() -> None:
    w = one_off()
    brussels = datetime(2026, 3, 10, 9, 30, tzinfo=ZoneInfo("Europe/Brussels"))
    assert w.occurrence_at(brussels) == (w.starts, w.ends)
    with pytest.raises(MaintenanceError, match="has no time zone"):
        w.occurrence_at(datetime(2026, 3, 10, 9, 30))


MIGRATION = Path(__file__).resolve().parents[1] / "sql" / "migrations" / "001_initial.sql"


def test_store_round_trip_and_soft_removal(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "nls.duckdb"))
    for migration in sorted(MIGRATION.parent.glob("*.sql")):
        con.execute(migration.read_text(encoding="utf-8"))
    store = DuckMaintenanceStore(con)
    first = store.add(one_off(id=0, created_by="ops"))
    second = store.add(recurring(id=0, scope_kind="customer", scope_id="cu1"))
    assert (first.id, second.id) == (1, 2)
    assert store.windows() == [first, second]
    assert store.remove(1, utc(2026, 3, 10, 9, 0))
    assert not store.remove(1, utc(2026, 3, 10, 9, 30))
    assert store.windows() == [second]
    (removed, _) = store.windows(include_removed=True)
    assert removed.removed_at == utc(2026, 3, 10, 9, 0)
    assert removed.occurrence_at(utc(2026, 3, 10, 8, 30)) is not None

    find = lookup(store.windows(include_removed=True), {"s1": "cu1"}, {"s1": "in1"})
    assert find("s1", utc(2026, 3, 10, 8, 30)) == removed
    assert find("s1", utc(2026, 3, 12, 1, 45)) == second
    assert find("s2", utc(2026, 3, 12, 1, 45)) is None
