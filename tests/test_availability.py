"""Monthly availability accounting: worked examples with minutes and percentages by hand.

April 2026 in Europe/Brussels (CEST, UTC+2 all month) runs from 2026-03-31 22:00Z to
2026-04-30 22:00Z: 30 days = 43,200 minutes. Samples come every 15 minutes on the quarter hour
from two hours before the month (the look-back) unless a test says otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from console.config import load_config, parse_config
from console.monitor.maintenance import DuckMaintenanceStore, MaintenanceWindow
from console.reports.accounting import (
    FIGURES,
    RULES_TEXT,
    RULES_VERSION,
    ReportError,
    availability,
    outages,
)
from console.reports.exclusions import ExclusionError, add_exclusion, revoke_exclusion
from console.reports.period import Month, PeriodError
from console.reports.scope import ScopeError, Subject, scope_from_config, terms_from_config
from console.sla.terms import AvailabilityTerms, MaintenanceRule
from console.store.database import Store
from tests.availability_data import scope, series, spans, store, utc

APRIL = "2026-04"
START, END = utc(2026, 3, 31, 22), utc(2026, 4, 30, 22)
BEFORE = START - timedelta(hours=2)
TEXPRO = AvailabilityTerms(
    target_pct=99.9, maintenance=MaintenanceRule(notice_days=5, allowed_hours="23:00-07:00")
)
# Three outages of s1 (server_online):
#   1. 04-03 10:00Z, 10:15Z fail -> 30 min, 2 failed checks: never confirmed (N = 3)
#   2. 04-10 01:00Z..02:45Z fail (8 checks) -> 120 min; confirmed from the 3rd (01:30) -> 90
#   3. 04-20 14:00Z..17:45Z fail (16 checks) -> 240 min; confirmed from 14:30 -> 210
OUTAGES = spans(
    (utc(2026, 4, 3, 10), utc(2026, 4, 3, 10, 30)),
    (utc(2026, 4, 10, 1), utc(2026, 4, 10, 3)),
    (utc(2026, 4, 20, 14), utc(2026, 4, 20, 18)),
)
# 00:30Z-02:30Z is 02:30-04:30 in Brussels: inside 23:00-07:00. It overlaps outage 2 from
# 01:00 to 02:30 = 90 min.
WINDOW = (utc(2026, 4, 10, 0, 30), utc(2026, 4, 10, 2, 30))


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "nls.duckdb") as s:
        yield s


def window(db: Store, announced: object, starts: object = None, ends: object = None) -> None:
    DuckMaintenanceStore(db.con).add(
        MaintenanceWindow(
            id=0,
            scope_kind="server",
            scope_id="s1",
            reason="firmware",
            announced_at=announced,  # type: ignore[arg-type]
            starts=starts or WINDOW[0],  # type: ignore[arg-type]
            ends=ends or WINDOW[1],  # type: ignore[arg-type]
        )
    )


def one(table: object) -> dict[str, object]:
    rows = table.to_pylist()  # type: ignore[attr-defined]
    assert len(rows) == 1, rows
    return rows[0]


def test_several_outages_with_an_announced_window_over_one(db: Store) -> None:
    store(db, series("s1", "server_online", BEFORE, END, failing=OUTAGES))
    window(db, announced=utc(2026, 4, 1))  # 9 days ahead
    row = one(availability(db, TEXPRO, scope(("s1", "acme", "inst")), APRIL))
    # failed 30 + 120 + 240 = 390; excused 90 (outage 2); downtime 300
    # confirmed: outage 2 [01:30, 03:00) less [01:30, 02:30) = 30; outage 3 210 -> 240
    # availability (43,200 - 300) / 43,200 = 99.30556%
    assert row == {
        "server": "s1",
        "period_minutes": 43200.0,
        "downtime_minutes": 300.0,
        "confirmed_downtime_minutes": 240.0,
        "excluded_minutes": 90.0,
        "unknown_minutes": 0.0,
        "availability_pct": 99.3056,
        "target_pct": 99.9,
        "met": False,
        "outages": 3,
        "longest_outage_minutes": 240.0,
        "resolution_minutes": 15.0,
    }
    assert list(row) == ["server", *FIGURES]
    listed = outages(db, TEXPRO, scope(("s1", "acme", "inst")), APRIL).to_pylist()
    assert [
        (o["start"], o["end"], o["minutes"], o["downtime_minutes"], o["status"]) for o in listed
    ] == [
        (utc(2026, 4, 3, 10), utc(2026, 4, 3, 10, 30), 30.0, 30.0, "counted"),
        (utc(2026, 4, 10, 1), utc(2026, 4, 10, 3), 120.0, 30.0, "counted"),
        (utc(2026, 4, 20, 14), utc(2026, 4, 20, 18), 240.0, 240.0, "counted"),
    ]
    second = listed[1]
    assert second["excluded_minutes"] == 90.0 and second["confirmed_downtime_minutes"] == 30.0
    assert (
        second["excused_by"]
        == "maintenance #1: firmware: announced 9.0 days ahead, inside 23:00-07:00"
    )
    assert "90 min excused: maintenance #1" in second["why"]


def test_the_same_window_announced_too_late_excuses_nothing(db: Store) -> None:
    store(db, series("s1", "server_online", BEFORE, END, failing=OUTAGES))
    window(db, announced=utc(2026, 4, 8, 0, 30))  # exactly 2 days before it starts
    row = one(availability(db, TEXPRO, scope(("s1", "acme", "inst")), APRIL))
    # downtime 390; confirmed 0 + 90 + 210 = 300; (43,200 - 390) / 43,200 = 99.09722%
    assert (
        row["downtime_minutes"],
        row["excluded_minutes"],
        row["confirmed_downtime_minutes"],
    ) == (
        390.0,
        0.0,
        300.0,
    )
    assert row["availability_pct"] == 99.0972
    second = outages(db, TEXPRO, scope(("s1", "acme", "inst")), APRIL).to_pylist()[1]
    assert second["status"] == "counted" and second["excused_by"] == ""
    assert (
        "does not excuse it: maintenance #1: firmware: announced 2.0 days before it started; "
        "the policy needs 5 days' notice" in second["why"]
    )


def test_a_window_outside_the_allowed_hours_excuses_nothing(db: Store) -> None:
    store(db, series("s1", "server_online", BEFORE, END, failing=OUTAGES))
    # 00:30Z-05:15Z is 02:30-07:15 in Brussels: it ends after 07:00.
    window(db, utc(2026, 4, 1), utc(2026, 4, 10, 0, 30), utc(2026, 4, 10, 5, 15))
    row = one(availability(db, TEXPRO, scope(("s1", "acme", "inst")), APRIL))
    assert (row["downtime_minutes"], row["excluded_minutes"]) == (390.0, 0.0)
    why = outages(db, TEXPRO, scope(("s1", "acme", "inst")), APRIL).to_pylist()[1]["why"]
    assert "runs 02:30-07:15 Europe/Brussels, outside the allowed hours 23:00-07:00" in why


def test_excluded_time_can_leave_the_denominator(db: Store) -> None:
    store(db, series("s1", "server_online", BEFORE, END, failing=OUTAGES))
    window(db, announced=utc(2026, 4, 1))
    terms = TEXPRO.model_copy(update={"excluded_from": "denominator"})
    row = one(availability(db, terms, scope(("s1", "acme", "inst")), APRIL))
    # (43,200 - 90 - 300) / (43,200 - 90) = 42,810 / 43,110 = 99.30410%
    assert row["availability_pct"] == 99.3041 and row["period_minutes"] == 43200.0


def test_dst_month_has_44580_minutes(db: Store) -> None:
    # March 2026 in Europe/Amsterdam: 2026-02-28 23:00Z .. 2026-03-31 22:00Z; the clocks skip
    # 02:00-03:00 on the 29th. Failed checks at 00:45Z, 01:00Z (03:00 CEST) and 01:15Z: 45 min.
    start, end = utc(2026, 2, 28, 23), utc(2026, 3, 31, 22)
    store(
        db,
        series(
            "s1",
            "server_online",
            start - timedelta(hours=1),
            end,
            failing=spans((utc(2026, 3, 29, 0, 45), utc(2026, 3, 29, 1, 30))),
        ),
    )
    row = one(availability(db, TEXPRO, scope(("s1", "a", "i"), zone="Europe/Amsterdam"), "2026-03"))
    # (44,580 - 45) / 44,580 = 99.89906%: 45 minutes is more than the 44.58 that 99.9% allows
    assert row["period_minutes"] == 44580.0
    assert (row["downtime_minutes"], row["confirmed_downtime_minutes"]) == (45.0, 15.0)
    assert (row["availability_pct"], row["met"]) == (99.8991, False)


def test_gap_in_monitoring_is_unknown_and_a_failure_holds_two_intervals(db: Store) -> None:
    # Failed checks at 09:15Z, 09:30Z, 09:45Z on 04-15, then the monitor is down until 13:00Z.
    # The 09:45 failure holds until 10:15 (twice the interval): failed 09:15-10:15 = 60 min,
    # confirmed from the 3rd failure, 09:45-10:15 = 30; unknown 10:15-13:00 = 165 min.
    gap = spans((utc(2026, 4, 15, 10), utc(2026, 4, 15, 13)))
    rows = [
        r
        for r in series(
            "s1",
            "server_online",
            BEFORE,
            END,
            failing=spans((utc(2026, 4, 15, 9, 15), utc(2026, 4, 15, 10))),
        )
        if not gap(r["ts"])
    ]
    store(db, rows)
    row = one(availability(db, TEXPRO, scope(("s1", "a", "i")), APRIL))
    assert (row["downtime_minutes"], row["confirmed_downtime_minutes"], row["unknown_minutes"]) == (
        60.0,
        30.0,
        165.0,
    )
    # (43,200 - 60) / 43,200 = 99.86111%: unknown time is not downtime
    assert row["availability_pct"] == 99.8611
    listed = outages(db, TEXPRO, scope(("s1", "a", "i")), APRIL).to_pylist()
    assert [(o["status"], o["start"], o["end"], o["minutes"]) for o in listed] == [
        ("counted", utc(2026, 4, 15, 9, 15), utc(2026, 4, 15, 10, 15), 60.0),
        ("unknown", utc(2026, 4, 15, 10, 15), utc(2026, 4, 15, 13), 165.0),
    ]
    assert listed[1]["why"].startswith("no sample")


def test_monitor_stopped_mid_month_and_a_late_start(db: Store) -> None:
    # s1: the last sample is 04-20 11:45Z; it holds until 12:15Z, the rest is unknown:
    #   12:15Z on the 20th .. 22:00Z on the 30th = 10 days + 9 h 45 min = 14,985 min.
    # s2: first sample 04-05 00:00Z; unknown from 03-31 22:00Z = 4 days + 2 h = 5,880 min.
    # s3: never sampled: the whole month unknown.
    store(
        db,
        series("s1", "server_online", BEFORE, utc(2026, 4, 20, 12)),
        series("s2", "server_online", utc(2026, 4, 5), END),
    )
    rows = availability(
        db, TEXPRO, scope(("s1", "a", "i"), ("s2", "a", "i"), ("s3", "a", "i")), APRIL
    ).to_pylist()
    assert [
        (r["server"], r["unknown_minutes"], r["downtime_minutes"], r["availability_pct"])
        for r in rows
    ] == [
        ("s1", 14985.0, 0.0, 100.0),
        ("s2", 5880.0, 0.0, 100.0),
        ("s3", 43200.0, 0.0, 100.0),
    ]


def test_unknown_samples_are_unknown_and_do_not_break_an_outage(db: Store) -> None:
    # 04-12: fail 08:00Z, 08:15Z, unknown 08:30Z, fail 08:45Z, ok 09:00Z.
    # One outage: failed 45 min (the unknown 15 min is unknown time); the 3rd failed check is
    # 08:45Z, so 15 min are confirmed.
    store(
        db,
        series(
            "s1",
            "server_online",
            BEFORE,
            END,
            failing=spans((utc(2026, 4, 12, 8), utc(2026, 4, 12, 9))),
            unknown=spans((utc(2026, 4, 12, 8, 30), utc(2026, 4, 12, 8, 45))),
        ),
    )
    row = one(availability(db, TEXPRO, scope(("s1", "a", "i")), APRIL))
    assert (row["downtime_minutes"], row["unknown_minutes"], row["confirmed_downtime_minutes"]) == (
        45.0,
        15.0,
        15.0,
    )
    assert (row["outages"], row["longest_outage_minutes"]) == (1, 45.0)


def test_outage_running_into_the_month_was_confirmed_before_it(db: Store) -> None:
    # Failing from 03-31 21:00Z (before the month) to 04-01 00:00Z: in the month
    # 22:00Z-00:00Z = 120 min, all confirmed (the 3rd failure was 21:30Z).
    store(
        db,
        series(
            "s1",
            "server_online",
            BEFORE - timedelta(hours=2),
            END,
            failing=spans((utc(2026, 3, 31, 21), utc(2026, 4, 1))),
        ),
    )
    row = one(availability(db, TEXPRO, scope(("s1", "a", "i")), APRIL))
    assert (row["downtime_minutes"], row["confirmed_downtime_minutes"]) == (120.0, 120.0)
    listed = outages(db, TEXPRO, scope(("s1", "a", "i")), APRIL).to_pylist()
    assert listed[0]["start"] == utc(2026, 3, 31, 21) and listed[0]["minutes"] == 120.0


def test_exclusion_with_audit_trail_and_undo(db: Store) -> None:
    store(db, series("s1", "server_online", BEFORE, END, failing=OUTAGES))
    window(db, announced=utc(2026, 4, 1))
    sc = scope(("s1", "acme", "inst"))
    made = add_exclusion(
        db,
        server="s1",
        starts=utc(2026, 4, 20, 14),
        ends=utc(2026, 4, 20, 16),
        reason="customer fault: power cut on site",
        author="alice",
        now=lambda: utc(2026, 5, 2, 9),
    )
    row = one(availability(db, TEXPRO, sc, APRIL))
    # 120 more minutes excused: downtime 180, excluded 210; confirmed 30 + (210 - 90) = 150
    # (43,200 - 180) / 43,200 = 99.58333%
    assert (
        row["downtime_minutes"],
        row["excluded_minutes"],
        row["confirmed_downtime_minutes"],
    ) == (
        180.0,
        210.0,
        150.0,
    )
    assert row["availability_pct"] == 99.5833
    third = outages(db, TEXPRO, sc, APRIL).to_pylist()[2]
    assert third["excused_by"] == "exclusion #1: customer fault: power cut on site (by alice)"
    revoke_exclusion(db, made.id, author="bob", now=lambda: utc(2026, 5, 3, 9))
    assert one(availability(db, TEXPRO, sc, APRIL))["downtime_minutes"] == 300.0
    # as it stood on 05-02 noon, before the undo
    assert (
        one(availability(db, TEXPRO, sc, APRIL, as_of=utc(2026, 5, 2, 12)))["downtime_minutes"]
        == 180.0
    )
    kept = db.query("SELECT author, revoked_by, revoked_at FROM exclusions").to_pylist()
    assert kept == [{"author": "alice", "revoked_by": "bob", "revoked_at": utc(2026, 5, 3, 9)}]
    with pytest.raises(ExclusionError, match="already revoked"):
        revoke_exclusion(db, made.id, author="bob")
    with pytest.raises(ExclusionError, match=r"--to .* is not after --from"):
        add_exclusion(
            db,
            server="s1",
            starts=utc(2026, 4, 2),
            ends=utc(2026, 4, 1),
            reason="x",
            author="alice",
        )


def test_customer_and_installer_rows_add_up_their_servers(db: Store) -> None:
    # acme: s1 (the three outages, no window: 390 down) and s2 (all up);
    # beta: s3 stopped on the 20th (14,985 unknown). Installer inst holds both customers.
    store(
        db,
        series("s1", "server_online", BEFORE, END, failing=OUTAGES),
        series("s2", "server_online", BEFORE, END),
        series("s3", "server_online", BEFORE, utc(2026, 4, 20, 12)),
    )
    sc = scope(("s1", "acme", "inst"), ("s2", "acme", "inst"), ("s3", "beta", "inst"))
    customers = availability(db, TEXPRO, sc, APRIL, by="customer").to_pylist()
    # acme: (86,400 - 390) / 86,400 = 99.54861%
    assert [
        (r["customer"], r["period_minutes"], r["downtime_minutes"], r["availability_pct"], r["met"])
        for r in customers
    ] == [
        ("acme", 86400.0, 390.0, 99.5486, False),
        ("beta", 43200.0, 0.0, 100.0, True),
    ]
    installer = one(availability(db, TEXPRO, sc, APRIL, by="installer"))
    # (129,600 - 390) / 129,600 = 99.69907%; met only if every customer met its target
    assert installer["installer"] == "inst"
    assert (installer["period_minutes"], installer["unknown_minutes"], installer["outages"]) == (
        129600.0,
        14985.0,
        3,
    )
    assert (installer["availability_pct"], installer["met"]) == (99.6991, False)


def test_camera_rows(db: Store) -> None:
    # c1 offline 04-05 08:00Z-09:00Z (60 min); c2 up all month.
    store(
        db,
        series("s1", "server_online", BEFORE, END),
        series(
            "s1",
            "camera",
            BEFORE,
            END,
            subject="c1",
            failing=spans((utc(2026, 4, 5, 8), utc(2026, 4, 5, 9))),
        ),
        series("s1", "camera", BEFORE, END, subject="c2"),
    )
    rows = availability(db, TEXPRO, scope(("s1", "a", "i")), APRIL, by="camera").to_pylist()
    assert [(r["camera"], r["downtime_minutes"], r["availability_pct"]) for r in rows] == [
        ("s1/c1", 60.0, 99.8611),
        ("s1/c2", 0.0, 100.0),
    ]
    # cameras never count against the server row
    assert one(availability(db, TEXPRO, scope(("s1", "a", "i")), APRIL))["downtime_minutes"] == 0


def test_which_checks_count_is_policy_data(db: Store) -> None:
    store(
        db,
        series("s1", "server_online", BEFORE, END),
        series(
            "s1",
            "disk_activity",
            BEFORE,
            END,
            failing=spans((utc(2026, 4, 5, 8), utc(2026, 4, 5, 9))),
        ),
    )
    sc = scope(("s1", "a", "i"))
    assert one(availability(db, TEXPRO, sc, APRIL))["downtime_minutes"] == 0
    terms = TEXPRO.model_copy(update={"server_checks": ("server_online", "disk_activity")})
    assert one(availability(db, terms, sc, APRIL))["downtime_minutes"] == 60.0


def test_rules_are_versioned_and_written_in_the_readme(db: Store) -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert RULES_VERSION == "2026.1" and RULES_TEXT in readme


def test_scope_from_config_covers_servers_and_web_checks(tmp_path: Path) -> None:
    config = parse_config(
        {
            "monitor": {"interval": "10m", "failures_before_alert": 4},
            "installers": [
                {"id": "i", "name": "I", "emails": ["a@b.example"], "timezone": "Europe/Amsterdam"}
            ],
            "customers": [{"id": "c", "name": "C", "installer": "i", "failures_before_alert": 2}],
            "servers": [{"id": "s1", "customer": "c", "address": "10.0.0.1"}],
            "web_checks": [{"id": "w1", "customer": "c", "url": "https://x.example/"}],
        },
        tmp_path / "nls.toml",
    )
    found = scope_from_config(config)
    assert found.subjects == (
        Subject("s1", "c", "i", "Europe/Amsterdam", 600.0, 2),
        Subject("w1", "c", "i", "Europe/Amsterdam", 300.0, 2, kind="web"),
    )
    with pytest.raises(ScopeError, match="no customer 'x' in scope; known: c"):
        scope_from_config(config, customer="x")


def test_terms_come_from_the_customers_sla_policy() -> None:
    config = load_config(Path(__file__).resolve().parents[1] / "config.example.toml")
    terms = terms_from_config(config)
    plans = {c.id: c.sla_plan for c in config.customers}
    texpro = next(t for c, t in terms.items() if plans[c] == "texpro")
    assert (texpro.maintenance.notice_days, texpro.maintenance.allowed_hours) == (5, "23:00-07:00")
    assert texpro.timezone == "Europe/Amsterdam"  # the policy calendar's zone
    safr = next(t for c, t in terms.items() if plans[c] == "safr")
    assert (safr.credit_pct_per_failure, safr.credit_cap_pct, safr.claim_days) == (2, 10, 7)


def test_bad_input_is_named(db: Store) -> None:
    with pytest.raises(PeriodError, match="'2026-13' is not a month"):
        Month.parse("2026-13")
    with pytest.raises(ReportError, match="--by 'rack'"):
        availability(db, TEXPRO, scope(("s1", "a", "i")), APRIL, by="rack")  # type: ignore[arg-type]
    with pytest.raises(ScopeError, match="no installer 'nope' in scope; known: i"):
        scope(("s1", "a", "i")).only(installer="nope")
