"""Response times of web checks per month against the contract (Texpro: a page opens within
3 s in 95% of cases): the chosen percentile of the month's `web_latency` samples per check."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from console.reports.period import Month
from console.reports.scope import Scope, ScopeError, Terms, terms_lookup

LATENCY_SCHEMA = pa.schema(
    [
        ("web_check", pa.string()),
        ("customer", pa.string()),
        ("samples", pa.int64()),
        ("percentile", pa.float64()),
        ("percentile_ms", pa.float64()),
        ("median_ms", pa.float64()),
        ("max_ms", pa.float64()),
        ("target_ms", pa.float64()),
        ("within_target_pct", pa.float64()),
        ("met", pa.bool_()),
    ]
)
_PARAMS = pa.schema(
    [
        ("server", pa.string()),
        ("customer", pa.string()),
        ("starts", pa.timestamp("us", tz="UTC")),
        ("ends", pa.timestamp("us", tz="UTC")),
        ("fraction", pa.float64()),
        ("target_ms", pa.float64()),
    ]
)


def latency(
    con: Any,
    terms: Terms,
    scope: Scope,
    month: Month | str,
    targets: Mapping[str, float | None] | None = None,
) -> pa.Table:
    """One row per web check in scope. `targets` (check id -> ms, from [[web_checks]]) win over
    the policy's latency_target_ms; without either, `met` is empty."""
    month = month if isinstance(month, Month) else Month.parse(month)
    terms_of = terms_lookup(terms)
    webs = [s for s in scope.subjects if s.kind == "web"]
    if not webs:
        raise ScopeError("no web checks in scope: add [[web_checks]] to the configuration")
    params: list[dict[str, Any]] = []
    for s in webs:
        t = terms_of(s.customer)
        start, end = month.bounds(s.zone(t))
        target = (targets or {}).get(s.server) or t.latency_target_ms
        params.append(
            {
                "server": s.server,
                "customer": s.customer,
                "starts": start,
                "ends": end,
                "fraction": t.latency_percentile / 100,
                "target_ms": target,
            }
        )
    cur = getattr(con, "con", con).cursor()
    tables = []
    try:
        # DuckDB's quantile takes a constant fraction: one query per percentile in use
        for fraction in sorted({p["fraction"] for p in params}):
            mine = [p for p in params if p["fraction"] == fraction]
            cur.register("lat_params", pa.Table.from_pylist(mine, schema=_PARAMS))
            text = _SQL.format(source=_source(cur), fraction=repr(float(fraction)))
            tables.append(cur.sql(text).to_arrow_table().cast(LATENCY_SCHEMA))
            cur.unregister("lat_params")
    finally:
        cur.close()
    return pa.concat_tables(tables).sort_by("web_check")


_SQL = """
WITH s AS ({source})
SELECT p.server AS web_check, p.customer, count(s.value) AS samples,
       round({fraction} * 100, 3) AS percentile,
       round(quantile_cont(s.value, {fraction}), 3) AS percentile_ms,
       round(median(s.value), 3) AS median_ms,
       round(max(s.value), 3) AS max_ms,
       any_value(p.target_ms) AS target_ms,
       round(100.0 * count(*) FILTER (WHERE s.value <= p.target_ms) / nullif(count(s.value), 0), 4)
           AS within_target_pct,
       CASE WHEN any_value(p.target_ms) IS NULL OR count(s.value) = 0 THEN NULL
            ELSE quantile_cont(s.value, {fraction}) <= any_value(p.target_ms) END AS met
FROM lat_params AS p
LEFT JOIN s ON s.server = p.server AND s.ts >= p.starts AND s.ts < p.ends
GROUP BY p.server, p.customer
ORDER BY p.server
"""


def _source(cur: Any) -> str:
    """The month's web_latency values (with a latency) whichever samples layout is in use."""
    columns = {
        r[0]
        for r in cur.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'samples'"
        ).fetchall()
    }
    if "series" in columns:
        return (
            "SELECT d.server, x.ts, x.value FROM samples AS x JOIN series AS d ON d.id = x.series "
            "WHERE d.check_name = 'web_latency' AND x.state <> 'unknown' "
            "AND d.server IN (SELECT server FROM lat_params)"
        )
    return (
        "SELECT server, ts, value FROM samples WHERE check_name = 'web_latency' "
        "AND state <> 'unknown' AND server IN (SELECT server FROM lat_params)"
    )
