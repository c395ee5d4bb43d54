-- Accounting, step 6: failed, unknown-sample and gap (no sample) spans of the month, per series, appended to acct_spans.
-- A sample's state holds until the next sample but at most $cap (twice the interval); beyond
-- that, before a series' first sample and after its last, time is unknown. Failed samples are
-- numbered within their outage (a run of failed samples not broken by an ok one; unknown
-- samples neither break nor extend it); from the n_alert-th on, the failure is confirmed. A run
-- already failing at the start of the look-back is taken as confirmed.
INSERT INTO acct_spans
WITH r AS (
    SELECT r.*, st.occ, st.first_ts, d.server, d.check_name, d.subject, g.n_alert,
           least(coalesce(r.nx, r.ts + $cap), r.ts + $cap) AS held_until
    FROM acct_r AS r
    JOIN acct_stats AS st USING (sid)
    JOIN acct_series AS d USING (sid)
    JOIN acct_group AS g ON g.server = d.server
),
f AS (
    SELECT *,
           sum(CASE WHEN prev_decisive = 'fail' THEN 0 ELSE 1 END)
               OVER (PARTITION BY sid ORDER BY ts) AS run
    FROM r
    WHERE state = 'fail'
),
f2 AS (
    SELECT *,
           row_number() OVER (PARTITION BY sid, run ORDER BY ts) AS k,
           bool_or(ts = first_ts AND first_ts < $lo + $cap) OVER (PARTITION BY sid, run) AS truncated
    FROM f
)
SELECT $grp AS grp, sid, server, check_name, subject,
       CASE WHEN $per_subject THEN subject ELSE '' END AS row_subject, 'fail' AS kind,
       greatest(ts, $start) AS starts, greatest(least(held_until, $hi), $start) AS ends,
       run, (k >= n_alert OR truncated) AS confirmed, ts AS sample_ts
FROM f2
UNION ALL
SELECT $grp, sid, server, check_name, subject, CASE WHEN $per_subject THEN subject ELSE '' END,
       'unknown', greatest(ts, $start),
       least(held_until, $hi), NULL, false, ts
FROM r
WHERE state = 'unknown' AND least(held_until, $hi) > greatest(ts, $start)
UNION ALL
SELECT $grp, sid, server, check_name, subject, CASE WHEN $per_subject THEN subject ELSE '' END,
       'gap', greatest(ts + $cap, $start),
       least(nx, $hi), NULL, false, ts
FROM r
WHERE b + 1 < $nb AND get_bit(occ, b + 1) = 0 AND nx > ts + $cap
  AND least(nx, $hi) > greatest(ts + $cap, $start)
UNION ALL
SELECT $grp, st.sid, d.server, d.check_name, d.subject,
       CASE WHEN $per_subject THEN d.subject ELSE '' END, 'gap', $start::TIMESTAMPTZ,
       least(st.first_ts, $hi), NULL, false, NULL
FROM acct_stats AS st JOIN acct_series AS d USING (sid)
WHERE st.first_ts > $start
UNION ALL
SELECT $grp, st.sid, d.server, d.check_name, d.subject,
       CASE WHEN $per_subject THEN d.subject ELSE '' END, 'gap',
       greatest(st.last_ts + $cap, $start), $hi::TIMESTAMPTZ, NULL, false, NULL
FROM acct_stats AS st JOIN acct_series AS d USING (sid)
WHERE st.last_ts + $cap < $hi;
