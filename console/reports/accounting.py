"""Monthly availability accounting: one definition for every report, screen and mail.

The rules (`RULES_TEXT`, versioned as `RULES_VERSION`, also in the README) turn samples into
failed, excused and unknown time. The work is DuckDB SQL (`sql/queries/avail_*.sql`) driven from
here, one group of servers at a time (same month bounds, interval and counted checks):

1. one pass over the month plus a short look-back, no sort: per series its first and last
   sample, which interval-sized buckets hold samples, and where the failed or unknown ones are;
2. only the samples around failures and gaps are read again in order (window functions), so a
   month of 30,000 healthy cameras costs two scans, not a sort of 90 million rows;
3. failed and unknown spans are merged per report row and intersected with excused time.

`reference=True` reads every sample in order instead of step 2: the plain definition, which
tests use to check the fast path on random histories.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import duckdb
import pyarrow as pa

import sql
from console.reports.excuses import (
    Excuse,
    exclusion_excuses,
    excuse_table,
    maintenance_excuses,
    stored_windows,
)
from console.reports.period import Month, day_bounds
from console.reports.scope import Scope, ScopeError, Subject, Terms, terms_lookup

RULES_VERSION = "2026.1"
RULES_TEXT = """\
Availability accounting rules, version 2026.1
1. Period: the calendar month in the policy's time zone (the customer's zone unless the policy
   names one); a March in Europe/Amsterdam has 44,580 minutes.
2. Time-weighted: a sample's state holds from its timestamp until the next sample of the same
   server, check and subject, but at most twice the check interval. Time beyond that, before a
   series' first sample and after its last, and time of `unknown` samples is unknown time: the
   monitor could not tell, and it is never charged to the customer.
3. Downtime counts from the first failed check. Which checks count is policy data (default
   server_online for a server, camera for a camera; a web check counts its `web` check). When
   several counted checks fail at once the time counts once.
4. An outage is a run of failed samples of one check and subject that no ok sample interrupts
   (unknown samples neither end nor extend it). Confirmed downtime counts from the Nth failed
   sample of an outage (N = the server's failures_before_alert, whether or not a mail went out).
5. Excused time: failed time inside a maintenance window that meets the policy (announced at
   least notice_days before the occurrence starts, and wholly inside the allowed hours in the
   policy zone), or inside an exclusion that has not been revoked. A window that breaks the rule
   excuses nothing; the outage list names it and says why.
6. Excluded and unknown time stay in the denominator and are never downtime:
   availability = (period - downtime) / period. A policy with excluded_from = "denominator"
   uses (period - excluded - downtime) / (period - excluded).
7. A customer or installer row adds up its servers' minutes (time-weighted); an installer row
   meets its target only when every one of its customers meets theirs and its target is the
   strictest of theirs.
8. Resolution: minutes are measured between samples one check interval apart, so one failed
   check weighs one interval; the report states it as resolution_minutes.
"""

Level = Literal["server", "camera"]
Layout = Literal["compact", "prev"]
By = Literal["server", "camera", "customer", "installer"]
BY_CHOICES: tuple[By, ...] = ("server", "camera", "customer", "installer")
FIGURES = (
    "period_minutes",
    "downtime_minutes",
    "confirmed_downtime_minutes",
    "excluded_minutes",
    "unknown_minutes",
    "availability_pct",
    "target_pct",
    "met",
    "outages",
    "longest_outage_minutes",
    "resolution_minutes",
)
# The look-back before a month: the last samples before it, and enough failures to tell whether
# an outage running into the month was already confirmed (N + 1 caps of two intervals).
_MAX_FULL_SHARE = 8  # gaps near more than 1/8 of a month's buckets: read such series whole


class ReportError(ValueError):
    """Bad report input (month, scope, grouping); the message says what to give instead."""

    exit_code = 2


@dataclass(frozen=True, slots=True)
class _Group:
    start: datetime
    end: datetime
    interval_us: int
    checks: tuple[str, ...]
    subjects: tuple[Subject, ...]


def availability(
    con: Any,
    terms: Terms,
    scope: Scope,
    month: Month | str,
    *,
    by: By = "server",
    as_of: datetime | None = None,
    reference: bool = False,
) -> pa.Table:
    """One row per server, camera, customer or installer with exactly the issue's keys:
    the key column named after `by`, then `FIGURES`. `as_of` recomputes with the exclusions as
    they stood then (default: as they stand now)."""
    if by not in BY_CHOICES:
        raise ReportError(f"--by {by!r} is not one of {', '.join(BY_CHOICES)}")
    month = _month(month)
    level: Level = "camera" if by == "camera" else "server"
    with _accounted(con, terms, scope, month, level, as_of, reference) as cur:
        if by in ("server", "camera"):
            key = "server" if by == "server" else "server || '/' || row_subject"
            return _arrow(cur, _figures_sql(key, by, "acct_raw", grouped=False))
        return _arrow(cur, _figures_sql(by, by, "acct_raw", grouped=True))


def outages(
    con: Any,
    terms: Terms,
    scope: Scope,
    month: Month | str,
    *,
    level: Level = "server",
    include_unknown: bool = True,
    as_of: datetime | None = None,
) -> pa.Table:
    """Every outage overlapping the month (and, with include_unknown, every stretch of unknown
    time), with its minutes, whether it counted, and the window or exclusion that excused it."""
    month = _month(month)
    with _accounted(con, terms, scope, month, level, as_of, False) as cur:
        found = _arrow(
            cur,
            sql.query("avail_outages"),
            {"include_unknown": include_unknown, "per_subject": level == "camera"},
        )
    return pa.Table.from_pylist([_outage_row(r) for r in found.to_pylist()], schema=OUTAGE_SCHEMA)


OUTAGE_SCHEMA = pa.schema(
    [
        ("server", pa.string()),
        ("customer", pa.string()),
        ("installer", pa.string()),
        ("check", pa.string()),
        ("subject", pa.string()),
        ("start", pa.timestamp("us", tz="UTC")),
        ("end", pa.timestamp("us", tz="UTC")),
        ("minutes", pa.float64()),
        ("downtime_minutes", pa.float64()),
        ("confirmed_downtime_minutes", pa.float64()),
        ("excluded_minutes", pa.float64()),
        ("failed_checks", pa.int64()),
        ("status", pa.string()),
        ("why", pa.string()),
        ("excused_by", pa.string()),
    ]
)
_UNKNOWN_WHY = {
    "gap": "no sample: the monitor recorded nothing for this check (monitor down or not probed)",
    "unknown": "unknown samples: the check could not tell (e.g. the server was unreachable)",
    "both": "unknown samples and no samples: the monitor could not tell",
}


def _outage_row(r: dict[str, Any]) -> dict[str, Any]:
    """One outage with a sentence saying whether and why it counted."""
    excused = list(r["excused_by"] or [])
    refused = list(r["not_excused_by"] or [])
    if r["status"] == "unknown":
        why = _UNKNOWN_WHY[r["unknown_kind"]] + "; never charged to the customer"
    elif r["status"] == "excluded":
        why = "excused: " + "; ".join(excused)
    else:
        why = "counted from the first failed check"
        if r["excused_s"] > 0.0005:
            why += f"; {r['excused_s'] / 60:g} min excused: " + "; ".join(excused)
        if refused:
            why += "; does not excuse it: " + "; ".join(refused)
    return {
        "server": r["server"],
        "customer": r["customer"],
        "installer": r["installer"],
        "check": r["check_name"],
        "subject": r["subject"],
        "start": r["start"],
        "end": r["end"],
        "minutes": round(r["failed_s"] / 60, 3),
        "downtime_minutes": round(r["downtime_s"] / 60, 3),
        "confirmed_downtime_minutes": round(r["confirmed_s"] / 60, 3),
        "excluded_minutes": round(r["excused_s"] / 60, 3),
        "failed_checks": r["failed_checks"],
        "status": r["status"],
        "why": why,
        "excused_by": "; ".join(excused),
    }


def daily(
    con: Any,
    terms: Terms,
    scope: Scope,
    month: Month | str,
    *,
    as_of: datetime | None = None,
) -> pa.Table:
    """Per day of the month (each server's own wall-clock days): the scope's servers' minutes,
    downtime, unknown time and availability, for the daily bars of the HTML report."""
    month = _month(month)
    with _accounted(con, terms, scope, month, "server", as_of, False) as cur:
        return _daily(cur, terms, scope, month)


@dataclass(frozen=True, slots=True)
class MonthTables:
    """Everything a monthly page shows, from one accounting pass over the month."""

    installers: pa.Table
    customers: pa.Table
    servers: pa.Table
    outages: pa.Table
    daily: pa.Table


def month_tables(
    con: Any,
    terms: Terms,
    scope: Scope,
    month: Month | str,
    *,
    as_of: datetime | None = None,
) -> MonthTables:
    """Rows by installer, customer and server, the outage list and the daily figures, computed
    once (what `availability`, `outages` and `daily` give one at a time)."""
    month = _month(month)
    with _accounted(con, terms, scope, month, "server", as_of, False) as cur:
        found = _arrow(
            cur, sql.query("avail_outages"), {"include_unknown": True, "per_subject": False}
        )
        return MonthTables(
            installers=_arrow(
                cur, _figures_sql("installer", "installer", "acct_raw", grouped=True)
            ),
            customers=_arrow(cur, _figures_sql("customer", "customer", "acct_raw", grouped=True)),
            servers=_arrow(cur, _figures_sql("server", "server", "acct_raw", grouped=False)),
            outages=pa.Table.from_pylist(
                [_outage_row(r) for r in found.to_pylist()], schema=OUTAGE_SCHEMA
            ),
            daily=_daily(cur, terms, scope, month),
        )


def _daily(cur: duckdb.DuckDBPyConnection, terms: Terms, scope: Scope, month: Month) -> pa.Table:
    terms_of = terms_lookup(terms)
    days = []
    for s in scope.subjects:
        zone = s.zone(terms_of(s.customer))
        for day in month.days():
            start, end = day_bounds(day, zone)
            days.append({"server": s.server, "day": day, "starts": start, "ends": end})
    table = pa.Table.from_pylist(
        days,
        schema=pa.schema(
            [
                ("server", pa.string()),
                ("day", pa.date32()),
                ("starts", pa.timestamp("us", tz="UTC")),
                ("ends", pa.timestamp("us", tz="UTC")),
            ]
        ),
    )
    cur.register("acct_days", table)
    try:
        return _arrow(cur, sql.query("avail_daily"))
    finally:
        cur.unregister("acct_days")


# -- the computation --------------------------------------------------------------------------


@contextmanager
def _accounted(
    con: Any,
    terms: Terms,
    scope: Scope,
    month: Month,
    level: Level,
    as_of: datetime | None,
    reference: bool,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A cursor inside one transaction (one snapshot) holding acct_spans, acct_x, acct_params
    and acct_raw for this scope and month; everything is dropped afterwards."""
    terms_of = terms_lookup(terms)
    if not scope.subjects:
        raise ScopeError("nothing in scope: no servers or web checks match the filters")
    cur = _connection(con).cursor()
    cur.execute("BEGIN TRANSACTION")
    try:
        _compute(cur, terms_of, scope, month, level, as_of, reference)
        yield cur
    finally:
        cur.execute("ROLLBACK")
        cur.close()


def _compute(
    cur: duckdb.DuckDBPyConnection,
    terms_of: Any,
    scope: Scope,
    month: Month,
    level: Level,
    as_of: datetime | None,
    reference: bool,
) -> None:
    compact = _layout(cur)
    cur.execute(sql.query("avail_spans_table"))
    params: list[dict[str, Any]] = []
    groups: dict[tuple[Any, ...], list[Subject]] = {}
    bounds: dict[str, tuple[datetime, datetime]] = {}
    for s in scope.subjects:
        terms = terms_of(s.customer)
        start, end = month.bounds(s.zone(terms))
        bounds[s.server] = (start, end)
        params.append(
            {
                "server": s.server,
                "customer": s.customer,
                "installer": s.installer,
                "starts": start,
                "ends": end,
                "interval_s": float(s.interval_s),
                "target_pct": float(terms.target_pct),
                "denominator_excludes": terms.excluded_from == "denominator",
            }
        )
        checks = s.checks(terms, level)
        if checks:
            key = (start, end, round(s.interval_s * 1e6), checks)
            groups.setdefault(key, []).append(s)
    cur.register("acct_params_in", pa.Table.from_pylist(params, schema=_PARAMS_SCHEMA))
    cur.execute("CREATE TEMP TABLE acct_params AS SELECT * FROM acct_params_in")
    cur.unregister("acct_params_in")
    for n, ((start, end, interval_us, checks), subjects) in enumerate(sorted(groups.items())):
        group = _Group(start, end, interval_us, checks, tuple(subjects))
        _run_group(cur, n, group, level == "camera", compact, reference)
    _excuses(cur, terms_of, scope, bounds, as_of)
    _exec(cur, sql.query("avail_rollup"), {"per_subject": level == "camera"})


def _run_group(
    cur: duckdb.DuckDBPyConnection,
    grp: int,
    g: _Group,
    per_subject: bool,
    compact: Layout,
    reference: bool,
) -> None:
    interval = timedelta(microseconds=g.interval_us)
    cap = 2 * interval
    most = max(s.failures_before_alert for s in g.subjects)
    offset = 2 * (most + 1)
    lo = g.start - offset * interval
    nb = offset + -(-int((g.end - g.start) / timedelta(microseconds=1)) // g.interval_us)
    members = pa.Table.from_pylist(
        [{"server": s.server, "n_alert": s.failures_before_alert} for s in g.subjects],
        schema=pa.schema([("server", pa.string()), ("n_alert", pa.int32())]),
    )
    cur.register("acct_group_in", members)
    cur.execute("CREATE OR REPLACE TEMP TABLE acct_group AS SELECT * FROM acct_group_in")
    cur.unregister("acct_group_in")
    _exec(cur, sql.query("avail_series"), {"checks": list(g.checks)})
    if compact == "prev" and not reference:
        spans = {
            "grp": grp,
            "lo": lo,
            "hi": g.end,
            "hi_cap": g.end + cap,
            "start": g.start,
            "cap": cap,
            "cap_us": 2 * g.interval_us,
            "per_subject": per_subject,
        }
        _exec(cur, sql.query("avail_prev_seen"), spans)
        _exec(cur, sql.query("avail_prev_spans"), spans)
        return
    cur.execute(sql.query("avail_source"))
    window = {
        "lo": lo,
        "lo_us": _epoch_us(lo),
        "iv": g.interval_us,
        "nb": nb,
        "hi": g.end,
    }
    _exec(cur, sql.query("avail_stats"), window)
    _exec(cur, sql.query("avail_seen"), {"per_subject": per_subject})
    bucketed = {"lo_us": window["lo_us"], "iv": g.interval_us, "nb": nb}
    _exec(cur, sql.query("avail_holes"), bucketed)
    _exec(cur, sql.query("avail_hole_buckets"), {"nb": nb})
    near_gaps = _count(cur, "acct_hb")
    if reference:
        full = "SELECT sid FROM acct_stats"
    elif near_gaps * _MAX_FULL_SHARE > nb:
        full = "SELECT sid FROM acct_holey"
    else:
        full = "SELECT sid FROM acct_stats WHERE false"
    cur.execute(f"CREATE OR REPLACE TEMP TABLE acct_full AS {full}")
    _exec(cur, sql.query("avail_keys"), {"nb": nb})
    picked = []
    source = (
        "SELECT sid, ts, state, ((epoch_us(ts) - $lo_us) // $iv)::INTEGER AS b "
        "FROM acct_src WHERE ts >= $lo AND ts < $hi"
    )
    if _count(cur, "acct_keys"):
        picked.append(f"SELECT s.* FROM ({source}) AS s SEMI JOIN acct_keys AS k USING (sid, b)")
    if _count(cur, "acct_full"):
        picked.append(f"SELECT * FROM ({source}) WHERE sid IN (SELECT sid FROM acct_full)")
    if not picked:
        picked.append(f"SELECT * FROM ({source}) WHERE false")
    ordered = sql.query("avail_ordered").replace("{picked}", " UNION ALL ".join(picked))
    _exec(cur, ordered, window)
    cur.execute(
        sql.query("avail_spans"),
        {
            "grp": grp,
            "lo": lo,
            "hi": g.end,
            "start": g.start,
            "cap": cap,
            "nb": nb,
            "per_subject": per_subject,
        },
    )


def _excuses(
    cur: duckdb.DuckDBPyConnection,
    terms_of: Any,
    scope: Scope,
    bounds: dict[str, tuple[datetime, datetime]],
    as_of: datetime | None,
) -> None:
    """acct_xsrc: every window and exclusion touching the month (for the outage list);
    acct_x: the qualifying ones merged per server and clipped to its month."""
    since = min(b[0] for b in bounds.values())
    until = max(b[1] for b in bounds.values())
    found = maintenance_excuses(stored_windows(cur), scope.subjects, terms_of, since, until)
    found += exclusion_excuses(cur, list(bounds), since, until, as_of)
    clipped = []
    for e in found:
        start, end = bounds[e.server]
        lo, hi = max(e.starts, start), min(e.ends, end)
        if lo < hi:
            clipped.append(Excuse(e.server, lo, hi, e.kind, e.ref, e.qualifies, e.why))
    cur.register("acct_xsrc_in", excuse_table(clipped))
    cur.execute("CREATE OR REPLACE TEMP TABLE acct_xsrc AS SELECT * FROM acct_xsrc_in")
    cur.unregister("acct_xsrc_in")
    cur.execute(sql.query("avail_merge_excuses"))


# -- output -----------------------------------------------------------------------------------


def _figures_sql(key_expr: str, key_name: str, source: str, *, grouped: bool) -> str:
    """The issue's row keys from seconds; grouped rows add up their servers' minutes."""
    if grouped:
        inner = f"""
            SELECT {key_expr} AS key,
                   sum(period_s) AS period_s,
                   sum(period_s - CASE WHEN denominator_excludes THEN excluded_s ELSE 0 END)
                       AS denom_s,
                   sum(down_s) AS down_s, sum(confirmed_s) AS confirmed_s,
                   sum(excluded_s) AS excluded_s, sum(unknown_s) AS unknown_s,
                   max(target_pct) AS target_pct,
                   sum(outages) AS outages, max(longest_s) AS longest_s,
                   max(interval_s) AS interval_s,
                   bool_and(customer_met) AS all_met
            FROM (
                SELECT *,
                       sum(period_s - CASE WHEN denominator_excludes THEN excluded_s ELSE 0 END
                           - down_s) OVER c
                         >= max(target_pct) OVER c / 100
                            * sum(period_s - CASE WHEN denominator_excludes THEN excluded_s
                                              ELSE 0 END) OVER c - 1e-9 AS customer_met
                FROM {source}
                WINDOW c AS (PARTITION BY customer)
            )
            GROUP BY key"""
    else:
        inner = f"""
            SELECT {key_expr} AS key, period_s,
                   period_s - CASE WHEN denominator_excludes THEN excluded_s ELSE 0 END AS denom_s,
                   down_s, confirmed_s, excluded_s, unknown_s, target_pct, outages, longest_s,
                   interval_s, true AS all_met
            FROM {source}"""
    return f"""
        SELECT key AS "{key_name}",
               round(period_s / 60, 3) AS period_minutes,
               round(down_s / 60, 3) AS downtime_minutes,
               round(confirmed_s / 60, 3) AS confirmed_downtime_minutes,
               round(excluded_s / 60, 3) AS excluded_minutes,
               round(unknown_s / 60, 3) AS unknown_minutes,
               round(CASE WHEN denom_s > 0 THEN 100 * (denom_s - down_s) / denom_s
                          ELSE 100 END, 4) AS availability_pct,
               target_pct,
               (CASE WHEN denom_s > 0 THEN 100 * (denom_s - down_s) / denom_s ELSE 100 END
                   >= target_pct - 1e-9) AND all_met AS met,
               outages::BIGINT AS outages,
               round(longest_s / 60, 3) AS longest_outage_minutes,
               round(interval_s / 60, 3) AS resolution_minutes
        FROM ({inner})
        ORDER BY key"""


def _arrow(
    cur: duckdb.DuckDBPyConnection, text: str, params: dict[str, Any] | None = None
) -> pa.Table:
    used = set(re.findall(r"\$([a-z_]+)", text))
    given = {k: v for k, v in (params or {}).items() if k in used}
    return cur.sql(text, params=given or None).to_arrow_table()


def _exec(
    cur: duckdb.DuckDBPyConnection, text: str, params: dict[str, Any] | None = None
) -> duckdb.DuckDBPyConnection:
    """Run one statement with the named parameters it uses (DuckDB refuses extra ones)."""
    used = set(re.findall(r"\$([a-z_]+)", text))
    return cur.execute(text, {k: v for k, v in (params or {}).items() if k in used})


# -- helpers ----------------------------------------------------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PARAMS_SCHEMA = pa.schema(
    [
        ("server", pa.string()),
        ("customer", pa.string()),
        ("installer", pa.string()),
        ("starts", pa.timestamp("us", tz="UTC")),
        ("ends", pa.timestamp("us", tz="UTC")),
        ("interval_s", pa.float64()),
        ("target_pct", pa.float64()),
        ("denominator_excludes", pa.bool_()),
    ]
)


def _connection(con: Any) -> duckdb.DuckDBPyConnection:
    """A Store or a DuckDB connection."""
    return getattr(con, "con", con)


def _layout(cur: duckdb.DuckDBPyConnection) -> Layout:
    """'prev' when each sample carries its predecessor (gap_us, prev_state, prev_failures,
    prev_failed_since: migration 007), which the store's `sample_states` view shows unless a
    month archived before 007 lacks them; 'compact' (samples read in order) otherwise."""
    columns = {
        r[0]
        for r in cur.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'sample_states'"
        ).fetchall()
    }
    return "prev" if "gap_us" in columns else "compact"


def _count(cur: duckdb.DuckDBPyConnection, table: str) -> int:
    row = cur.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0


def _epoch_us(value: datetime) -> int:
    return (value - _EPOCH) // timedelta(microseconds=1)


def _month(month: Month | str) -> Month:
    return month if isinstance(month, Month) else Month.parse(month)


def rules() -> dict[str, str]:
    """The rules a report was computed with, for exports and the HTML report."""
    return {"rules_version": RULES_VERSION, "rules": RULES_TEXT}


__all__: Sequence[str] = (
    "BY_CHOICES",
    "FIGURES",
    "RULES_TEXT",
    "RULES_VERSION",
    "ReportError",
    "availability",
    "daily",
    "month_tables",
    "outages",
    "rules",
)
