-- Accounting, step 3: empty buckets between a series' first and last sample (a gap in
-- monitoring may start there), per series that has any.
CREATE OR REPLACE TEMP TABLE acct_holey AS
WITH s AS (
    SELECT sid, occ,
           ((epoch_us(first_ts) - $lo_us) // $iv)::INTEGER AS fb,
           ((epoch_us(last_ts) - $lo_us) // $iv)::INTEGER AS lb
    FROM acct_stats
)
SELECT sid,
       (~occ) & (repeat('0', fb + 1) || repeat('1', greatest(lb - fb - 1, 0))
                 || repeat('0', greatest($nb - lb, 0)))::BIT AS holes
FROM s
WHERE bit_count(occ) < lb - fb + 1;
