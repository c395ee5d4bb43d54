-- The predecessor columns of every raw row of the series in `refold_series(id)`, their first
-- sample time and current_state's failure run, recomputed from their whole history (raw and
-- archived) by the rules of migration 007. For imported history (Store.import_samples, after
-- import_refold), which may land before or between stored samples, and for a live sample older
-- than its series' latest (Store.write_cycle: a `nls check` racing a slot, a clock step back).
CREATE TEMP TABLE refold_prev AS
WITH s AS (
    SELECT series, ts, state,
           sum((state = 'ok')::INTEGER) OVER (PARTITION BY series ORDER BY ts) AS oks
    FROM sample_states
    WHERE series IN (SELECT id FROM refold_series)
),
f AS (
    SELECT *,
           count(*) FILTER (WHERE state = 'fail') OVER r AS failures,
           min(ts) FILTER (WHERE state = 'fail') OVER r AS failed_since
    FROM s
    WINDOW r AS (PARTITION BY series, oks ORDER BY ts)
)
SELECT series, ts, failures, failed_since,
       epoch_us(ts) - epoch_us(lag(ts) OVER w) AS gap_us,
       CASE lag(state) OVER w WHEN 'ok' THEN 0 WHEN 'fail' THEN 1 WHEN 'unknown' THEN 2 END
           AS prev_state,
       lag(failures) OVER w AS prev_failures,
       lag(failed_since) OVER w AS prev_failed_since
FROM f
WINDOW w AS (PARTITION BY series ORDER BY ts);

UPDATE sample_rows
SET gap_us = p.gap_us, prev_state = p.prev_state, prev_failures = p.prev_failures,
    prev_failed_since = p.prev_failed_since
FROM refold_prev AS p
WHERE sample_rows.series = p.series AND sample_rows.ts = p.ts;

UPDATE series SET first_ts = p.first_ts
FROM (SELECT series, min(ts) AS first_ts FROM refold_prev GROUP BY series) AS p
WHERE series.id = p.series;

UPDATE current_state AS c
SET failures = l.failures, failed_since = l.failed_since
FROM (
    SELECT s.server, s.check_name, s.subject, arg_max(p.failures, p.ts) AS failures,
           arg_max_null(p.failed_since, p.ts) AS failed_since
    FROM refold_prev AS p JOIN series AS s ON s.id = p.series
    GROUP BY ALL
) AS l
WHERE c.server = l.server AND c.check_name = l.check_name AND c.subject = l.subject;

DROP TABLE refold_prev;
DROP TABLE refold_series;
