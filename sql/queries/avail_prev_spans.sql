-- Accounting on the compact layout whose samples carry their predecessor (migration 007):
-- a sample says how long its series' previous sample held and in which state, so a month needs
-- only the rare samples that follow a failed or unknown sample or a gap (zonemaps on ts,
-- prev_state and gap_us skip the rest), plus current_state for series that stopped sampling.
-- Produces the same acct_spans rows as avail_spans.sql; `run` is the failure run's start.
INSERT INTO acct_spans
WITH rare AS (
    SELECT ts, series AS sid, gap_us, prev_state, prev_failures, prev_failed_since
    FROM sample_states
    WHERE ts > $start AND ts < $hi_cap AND prev_state <> 'ok'::sample_state
      AND series IN (SELECT sid FROM acct_series)
    UNION ALL
    SELECT ts, series, gap_us, prev_state, prev_failures, prev_failed_since
    FROM sample_states
    WHERE ts > $start AND gap_us > $cap_us
      AND NOT (ts < $hi_cap AND prev_state <> 'ok'::sample_state)
      AND series IN (SELECT sid FROM acct_series)
    UNION ALL
    SELECT ts, series, NULL, NULL, NULL, NULL
    FROM sample_states
    WHERE ts > $start AND ts < $hi AND gap_us IS NULL AND series IN (SELECT sid FROM acct_series)
),
p AS (
    SELECT r.*, d.server, d.check_name, d.subject, g.n_alert,
           CASE WHEN $per_subject THEN d.subject ELSE '' END AS row_subject,
           r.ts - to_microseconds(r.gap_us) AS pts
    FROM rare AS r
    JOIN acct_series AS d USING (sid)
    JOIN acct_group AS g ON g.server = d.server
),
held AS (
    SELECT *, greatest(pts, $start) AS s0, least(ts, pts + $cap, $hi) AS s1
    FROM p
    WHERE prev_state <> 'ok' AND pts < $hi
),
last AS (
    SELECT d.sid, d.server, d.check_name, d.subject, g.n_alert,
           CASE WHEN $per_subject THEN d.subject ELSE '' END AS row_subject,
           c.state, c.last_ts, c.failures, c.failed_since
    FROM current_state AS c
    JOIN acct_series AS d
      ON d.server = c.server AND d.check_name = c.check_name AND d.subject = c.subject
    JOIN acct_group AS g ON g.server = d.server
    WHERE c.last_ts < $hi
)
SELECT $grp, sid, server, check_name, subject, row_subject,
       CASE WHEN prev_state = 'fail' THEN 'fail' ELSE 'unknown' END, s0, s1,
       CASE WHEN prev_state = 'fail' THEN epoch_us(prev_failed_since) END,
       prev_state = 'fail' AND prev_failures >= n_alert, pts
FROM held
WHERE s1 > s0
UNION ALL
SELECT DISTINCT $grp, sid, server, check_name, subject, row_subject, 'fail',
       $start::TIMESTAMPTZ, $start::TIMESTAMPTZ, epoch_us(prev_failed_since), false,
       prev_failed_since
FROM held
WHERE s1 > s0 AND prev_state = 'fail'
UNION ALL
SELECT $grp, sid, server, check_name, subject, row_subject, 'gap',
       greatest(pts + $cap, $start), least(ts, $hi), NULL, false, pts
FROM p
WHERE gap_us > $cap_us AND least(ts, $hi) > greatest(pts + $cap, $start)
UNION ALL
SELECT $grp, sid, server, check_name, subject, row_subject, 'gap',
       $start::TIMESTAMPTZ, least(ts, $hi), NULL, false, NULL
FROM p
WHERE gap_us IS NULL
UNION ALL
SELECT $grp, sid, server, check_name, subject, row_subject,
       CASE WHEN state = 'fail' THEN 'fail' ELSE 'unknown' END,
       greatest(last_ts, $start), least(last_ts + $cap, $hi),
       CASE WHEN state = 'fail' THEN epoch_us(failed_since) END,
       state = 'fail' AND failures >= n_alert, last_ts
FROM last
WHERE state <> 'ok' AND least(last_ts + $cap, $hi) > greatest(last_ts, $start)
UNION ALL
SELECT $grp, sid, server, check_name, subject, row_subject, 'fail',
       $start::TIMESTAMPTZ, $start::TIMESTAMPTZ, epoch_us(failed_since), false, failed_since
FROM last
WHERE state = 'fail' AND least(last_ts + $cap, $hi) > greatest(last_ts, $start)
UNION ALL
SELECT $grp, sid, server, check_name, subject, row_subject, 'gap',
       greatest(last_ts + $cap, $start), $hi::TIMESTAMPTZ, NULL, false, last_ts
FROM last
WHERE last_ts + $cap < $hi;
