"""The accounting SQL against a direct reading of the rules, on random histories.

The oracle below walks each series sample by sample (no buckets, no look-back tricks), the way
the README states the rules; the SQL's fast path (reading only the samples around failures and
gaps) and its reference path (reading every sample in order) must both agree with it, on the
store's own layout (series ids, detail templates, each sample carrying its predecessor:
migrations 003 and 007), whether written by the probe path or imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import sql
from console.reports.accounting import availability, outages
from console.reports.exclusions import add_exclusion
from console.reports.scope import Scope
from console.sla.terms import AvailabilityTerms
from console.store.database import Store
from tests.availability_data import scope, store, utc

START, END = utc(2026, 4, 1), utc(2026, 5, 1)  # April in UTC: 43,200 minutes
N = 3
CAP = timedelta(minutes=30)
LOOKBACK = 2 * (N + 1) * timedelta(minutes=15)
TERMS = AvailabilityTerms(timezone="UTC")

Segment = tuple[str, int, int]  # (kind, count or minutes, jitter seconds)
segments = st.lists(
    st.one_of(
        st.tuples(
            st.sampled_from(["ok", "fail", "unknown"]), st.integers(1, 400), st.integers(0, 120)
        ),
        st.tuples(st.just("gap"), st.integers(1, 3000), st.just(0)),
        st.tuples(st.just("retry"), st.integers(1, 6), st.integers(0, 30)),
    ),
    min_size=1,
    max_size=25,
)
excuses = st.lists(st.tuples(st.integers(0, 43000), st.integers(1, 3000)), max_size=3)


def history(server: str, segs: list[Segment]) -> list[dict[str, Any]]:
    """Samples from the start of the look-back; retries are failures 2 minutes apart."""
    rows: list[dict[str, Any]] = []
    t = START - LOOKBACK
    for kind, size, jitter in segs:
        if kind == "gap":
            t += timedelta(minutes=size)
            continue
        step = timedelta(minutes=2 if kind == "retry" else 15)
        state = "fail" if kind == "retry" else kind
        if not rows:
            state = "ok"  # a history that starts failing has an outage of unknown length
        for n in range(size):
            ts = t + timedelta(seconds=(jitter * (n % 3)) // 2)
            if ts >= END:
                return rows
            rows.append(
                {
                    "ts": ts,
                    "cycle": 0,
                    "server": server,
                    "check_name": "server_online",
                    "subject": "",
                    "state": state,
                    "value": None,
                    "latency_ms": None,
                    "detail": "",
                }
            )
            t += step
    return rows


@dataclass
class Figures:
    down: float
    confirmed: float
    excluded: float
    unknown: float
    outages: int
    longest: float


def oracle(rows: list[dict[str, Any]], excused: list[tuple[datetime, datetime]]) -> Figures:
    fail: list[tuple[datetime, datetime, int, bool]] = []
    unknown: list[tuple[datetime, datetime]] = []
    ts = [r["ts"] for r in rows]
    if not rows:
        unknown.append((START, END))
    else:
        if ts[0] > START:
            unknown.append((START, min(ts[0], END)))
        if ts[-1] + CAP < END:
            unknown.append((max(ts[-1] + CAP, START), END))
    run, k, prev = 0, 0, None
    for i, r in enumerate(rows):
        nxt = ts[i + 1] if i + 1 < len(rows) else None
        held = min(nxt, r["ts"] + CAP) if nxt else r["ts"] + CAP
        if nxt and nxt - r["ts"] > CAP:
            unknown.append((r["ts"] + CAP, nxt))
        if r["state"] == "unknown":
            unknown.append((r["ts"], held))
            continue
        if r["state"] == "fail":
            if prev != "fail":
                run, k = run + 1, 0
                truncated = i == 0 and r["ts"] < START - LOOKBACK + CAP
            k += 1
            fail.append((r["ts"], held, run, k >= N or truncated))
        prev = r["state"]

    def clip(a: datetime, b: datetime) -> tuple[datetime, datetime]:
        return max(a, START), min(b, END)

    def minutes(spans: list[tuple[datetime, datetime]]) -> float:
        return sum(max((b - a).total_seconds(), 0) for a, b in spans) / 60

    def minus_excused(spans: list[tuple[datetime, datetime]]) -> float:
        return minutes(spans) - sum(
            max((min(b, y) - max(a, x)).total_seconds(), 0) / 60
            for a, b in spans
            for x, y in excused
        )

    fails = [clip(a, b) for a, b, _, _ in fail]
    confirmed = [clip(a, b) for a, b, _, c in fail if c]
    per_run: dict[int, float] = {}
    for (_a, _b, n, _), span in zip(fail, fails, strict=True):
        per_run[n] = per_run.get(n, 0) + minus_excused([span])
    counted = [v for v in per_run.values() if v > 1e-6]
    return Figures(
        down=round(minus_excused(fails), 3),
        confirmed=round(minus_excused(confirmed), 3),
        excluded=round(minutes(fails) - minus_excused(fails), 3),
        unknown=round(minutes([clip(a, b) for a, b in unknown]), 3),
        outages=len(counted),
        longest=round(max(counted, default=0), 3),
    )


def merged(spans: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    out: list[tuple[datetime, datetime]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def test_every_path_matches_the_rules() -> None:
    """The store's fast path (samples with their predecessors) and its reference path (every
    sample in order), against the oracle."""

    @settings(
        max_examples=15,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        # shrinking re-runs whole months of accounting; the failing example is printed as is
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
    )
    @given(segments, segments, excuses)
    def check(a: list[Segment], b: list[Segment], excused: list[tuple[int, int]]) -> None:
        rows = {"s1": history("s1", a), "s2": history("s2", b)}
        spans = merged(
            [(START + timedelta(minutes=m), START + timedelta(minutes=m + d)) for m, d in excused]
        )
        expected = {"s1": oracle(rows["s1"], spans), "s2": oracle(rows["s2"], [])}
        sc = scope(("s1", "c", "i"), ("s2", "c", "i"), zone="UTC", n=N)
        with Store(Path(":memory:")) as own:
            store(own, rows["s1"], rows["s2"])
            for x, y in spans:
                add_exclusion(own, server="s1", starts=x, ends=y, reason="test", author="t")
            compare(own.con, sc, expected, "store layout")
            compare(own.con, sc, expected, "store layout reference", reference=True)

    check()


def compare(
    db: duckdb.DuckDBPyConnection,
    sc: Scope,
    expected: dict[str, Figures],
    path: str,
    *,
    reference: bool = False,
) -> None:
    for r in availability(db, TERMS, sc, "2026-04", reference=reference).to_pylist():
        e = expected[r["server"]]
        got = (
            r["downtime_minutes"],
            r["confirmed_downtime_minutes"],
            r["excluded_minutes"],
            r["unknown_minutes"],
            r["outages"],
            r["longest_outage_minutes"],
        )
        assert got == (e.down, e.confirmed, e.excluded, e.unknown, e.outages, e.longest), (
            path,
            r["server"],
        )
    if reference:
        return
    listed = outages(db, TERMS, sc, "2026-04").to_pylist()
    for server, e in expected.items():
        mine = [o for o in listed if o["server"] == server]
        down = sum(o["downtime_minutes"] for o in mine)
        unknown = sum(o["minutes"] for o in mine if o["status"] == "unknown")
        assert down == pytest.approx(e.down, abs=0.001 * (len(mine) + 1)), path
        assert unknown == pytest.approx(e.unknown, abs=0.001 * (len(mine) + 1)), path


@pytest.mark.parametrize("ends_failing", [False, True])
def test_samples_written_live_carry_their_predecessors(ends_failing: bool) -> None:
    """The probe path stores each sample with its series' previous one (from current_state,
    migration 007): failure runs through unknown samples, retries, a gap, a series' first
    sample. Its month equals the rules, as imported history's does."""
    from console.monitor.sample import Sample

    segs: list[Segment] = [
        ("ok", 30, 0),
        ("fail", 2, 0),
        ("unknown", 3, 40),
        ("fail", 4, 90),
        ("gap", 200, 0),
        ("retry", 5, 10),
        ("ok", 10, 0),
        ("fail", 1, 0),
        ("unknown", 2, 0),
        ("ok", 5, 0),
        ("fail" if ends_failing else "ok", 6, 0),
    ]
    rows = {"s1": history("s1", segs), "s2": history("s2", [("ok", 3, 0), ("gap", 600, 0)])}
    merged_rows = sorted(rows["s1"] + rows["s2"], key=lambda r: (r["ts"], r["server"]))
    sc = scope(("s1", "c", "i"), ("s2", "c", "i"), zone="UTC", n=N)
    with Store(Path(":memory:")) as live:
        for n, r in enumerate(merged_rows, 1):
            sample = Sample(r["ts"], r["server"], "server_online", "", r["state"], None, "x")
            live.write_cycle(n, r["ts"], r["ts"], [sample])
        expected = {s: oracle(rows[s], []) for s in rows}
        compare(live.con, sc, expected, "written live")
        compare(live.con, sc, expected, "written live, reference", reference=True)


def test_a_store_from_before_predecessors_is_filled_in_by_its_migration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migration 007 computes every stored sample's predecessor, each series' first sample and
    current_state's failure run from the history already there: the month is the same."""
    segs: list[Segment] = [
        ("ok", 20, 0),
        ("fail", 2, 0),
        ("unknown", 2, 30),
        ("fail", 3, 0),
        ("gap", 300, 0),
        ("fail", 4, 0),
    ]
    rows = history("s1", segs)
    everything = sql.migrations()
    monkeypatch.setattr(sql, "migrations", lambda: [m for m in everything if m[0] < 7])
    path = tmp_path / "nls.duckdb"
    with Store(path) as old:
        old.con.execute("INSERT INTO series VALUES (1, 's1', 'server_online', '', '')")
        old.con.execute("INSERT INTO details VALUES (1, 'x')")
        code = {"ok": 0, "fail": 1, "unknown": 2}
        old.con.executemany(
            "INSERT INTO sample_rows VALUES (?, ?, 1, ?, NULL, NULL, 1)",
            [[n, r["ts"], code[r["state"]]] for n, r in enumerate(rows, 1)],
        )
        old.con.execute(
            "INSERT INTO current_state VALUES ('s1', 'server_online', '', 'fail', ?, ?, 4, "
            "NULL, 'x')",
            [rows[-4]["ts"], rows[-1]["ts"]],
        )
    monkeypatch.setattr(sql, "migrations", lambda: everything)
    with Store(path) as migrated:
        assert migrated.scalar("SELECT first_ts FROM series") == rows[0]["ts"]
        # 2 + 3 + 4 failed samples: unknown ones and the gap neither count nor reset the run
        assert migrated.scalar("SELECT failures FROM current_state") == 9
        sc = scope(("s1", "c", "i"), zone="UTC", n=N)
        compare(migrated.con, sc, {"s1": oracle(rows, [])}, "migrated")


def test_a_sample_stored_after_a_newer_one_takes_its_place_in_time() -> None:
    """`nls check` can store a sample after a slot stored a newer one (or the clock steps
    back): the late sample and the ones after it get the predecessors of time order, and
    current_state stays at the newest sample."""
    from console.monitor.sample import Sample

    q = timedelta(minutes=15)
    t = START + timedelta(days=1)
    writes = [(0, "ok"), (2, "fail"), (1, "ok"), *((k, "ok") for k in range(3, 10))]
    sc = scope(("s1", "c", "i"), zone="UTC", n=N)
    with Store(Path(":memory:")) as db:
        for n, (k, state) in enumerate(writes, 1):
            sample = Sample(t + k * q, "s1", "server_online", "", state, None, "x")
            db.write_cycle(n, t + k * q, t + k * q, [sample])
        assert db.scalar("SELECT last_ts FROM current_state") == t + 9 * q
        rows = [{"ts": t + k * q, "state": state} for k, state in sorted(writes)]
        compare(db.con, sc, {"s1": oracle(rows, [])}, "a late sample")
        compare(db.con, sc, {"s1": oracle(rows, [])}, "a late sample, reference", reference=True)
