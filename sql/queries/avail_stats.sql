-- Accounting, step 2: one pass over the month (plus the look-back before it), no sort.
-- Time is cut into buckets of one check interval from $lo (= month start - look-back).
-- Per series: first and last sample, which buckets hold a sample (occ), and the buckets
-- holding a failed or unknown sample. A series whose buckets are all filled and whose samples
-- are all ok needs nothing more: its whole month is known and up.
CREATE OR REPLACE TEMP TABLE acct_stats AS
SELECT sid,
       min(ts) AS first_ts,
       max(ts) AS last_ts,
       bitstring_agg(b, 0, $nb - 1) AS occ,
       coalesce(list(b) FILTER (WHERE state <> 'ok'), []) AS nonok
FROM (
    SELECT sid, ts, state, ((epoch_us(ts) - $lo_us) // $iv)::INTEGER AS b
    FROM acct_src
    WHERE ts >= $lo AND ts < $hi
)
GROUP BY sid;
