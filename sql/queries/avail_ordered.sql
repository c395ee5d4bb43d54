-- Accounting, step 5: the selected samples in order per series, with the next sample's time and
-- the state of the last decisive (ok or failed) sample before. {picked} is the selection:
-- samples whose (sid, bucket) is in acct_keys, and/or every sample of the series in acct_full.
-- Every successor used later is exact: a failed or unknown sample's successor is in its own
-- bucket or the next two (all selected) or beyond a gap (whose far side is selected), and a
-- sample before a gap has its whole bucket and the gap's far side selected.
CREATE OR REPLACE TEMP TABLE acct_r AS
SELECT sid, ts, state, b,
       lead(ts) OVER w AS nx,
       last_value(CASE WHEN state <> 'unknown' THEN state::VARCHAR END IGNORE NULLS) OVER (
           PARTITION BY sid ORDER BY ts ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
       ) AS prev_decisive
FROM ({picked})
WINDOW w AS (PARTITION BY sid ORDER BY ts);
