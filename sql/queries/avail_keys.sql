-- Accounting, step 4: the (series, bucket) pairs whose samples must be read in order: each
-- failed or unknown sample's bucket and the two after it (its successor lies there unless a gap
-- follows), and the buckets around gaps of series that have gaps (acct_full: read whole).
CREATE OR REPLACE TEMP TABLE acct_keys AS
SELECT DISTINCT sid, b
FROM (
    SELECT sid, b0 + o AS b
    FROM (SELECT sid, unnest(nonok) AS b0 FROM acct_stats WHERE len(nonok) > 0),
         (VALUES (0), (1), (2)) AS v(o)
    UNION ALL
    SELECT h.sid, g.b FROM acct_holey AS h, acct_hb AS g
    WHERE h.sid NOT IN (SELECT sid FROM acct_full)
)
WHERE b < $nb AND sid NOT IN (SELECT sid FROM acct_full);
