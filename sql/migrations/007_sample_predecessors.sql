-- nls store, version 7: every raw sample carries what its series' previous sample was.
--
-- gap_us (time since the previous sample; NULL for a series' first), prev_state (its state
-- code) and prev_failures / prev_failed_since (the failure run up to it: failed samples in a
-- row, an unknown one neither counting nor resetting, and when the run began). The writer knows
-- them from current_state, which gains the run of the latest sample (failures, failed_since).
-- With them a month's availability reads only the rare samples that follow a failed or unknown
-- sample or a gap, never sorting a month of samples per series (sql/queries/avail_prev_*.sql;
-- by camera at 13 months x 1,000 servers: bench/bench_availability.py). series.first_ts: when
-- the series was first sampled. (Proved first on a prototype layout by issue 12.)
ALTER TABLE series ADD COLUMN first_ts TIMESTAMPTZ;
ALTER TABLE sample_rows ADD COLUMN gap_us BIGINT;
ALTER TABLE sample_rows ADD COLUMN prev_state UTINYINT;
ALTER TABLE sample_rows ADD COLUMN prev_failures INTEGER;
ALTER TABLE sample_rows ADD COLUMN prev_failed_since TIMESTAMPTZ;
ALTER TABLE current_state ADD COLUMN failures INTEGER;
ALTER TABLE current_state ADD COLUMN failed_since TIMESTAMPTZ;

CREATE TEMP TABLE m007 AS
WITH s AS (
    SELECT rowid AS rid, series, ts, state,
           sum((state = 0)::INTEGER) OVER (PARTITION BY series ORDER BY ts) AS oks
    FROM sample_rows
),
f AS (
    SELECT *,
           count(*) FILTER (WHERE state = 1) OVER r AS failures,
           min(ts) FILTER (WHERE state = 1) OVER r AS failed_since
    FROM s
    WINDOW r AS (PARTITION BY series, oks ORDER BY ts)
)
SELECT rid, series, ts, failures, failed_since,
       epoch_us(ts) - epoch_us(lag(ts) OVER w) AS gap_us,
       lag(state) OVER w AS prev_state,
       lag(failures) OVER w AS prev_failures,
       lag(failed_since) OVER w AS prev_failed_since
FROM f
WINDOW w AS (PARTITION BY series ORDER BY ts);

UPDATE sample_rows
SET gap_us = m.gap_us, prev_state = m.prev_state, prev_failures = m.prev_failures,
    prev_failed_since = m.prev_failed_since
FROM m007 AS m
WHERE sample_rows.rowid = m.rid;

UPDATE series SET first_ts = m.first_ts
FROM (SELECT series, min(ts) AS first_ts FROM m007 GROUP BY series) AS m
WHERE series.id = m.series;

UPDATE current_state AS c
SET failures = l.failures, failed_since = l.failed_since
FROM (
    SELECT s.server, s.check_name, s.subject,
           arg_max(m.failures, m.ts) AS failures,
           arg_max_null(m.failed_since, m.ts) AS failed_since  -- NULL after an ok sample
    FROM m007 AS m JOIN series AS s ON s.id = m.series
    GROUP BY ALL
) AS l
WHERE c.server = l.server AND c.check_name = l.check_name AND c.subject = l.subject;

UPDATE current_state SET failures = 0 WHERE failures IS NULL;

DROP TABLE m007;
