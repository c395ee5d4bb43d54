-- Accounting, step 3b: every bucket next to an empty bucket of any series. Gaps are usually the
-- monitor's own (all series at once), so this stays a short list.
CREATE OR REPLACE TEMP TABLE acct_hb AS
WITH g AS (SELECT bit_or(holes | (holes << 1) | (holes >> 1)) AS h FROM acct_holey)
SELECT p::INTEGER AS b
FROM g, range($nb) AS r(p)
WHERE g.h IS NOT NULL AND get_bit(g.h, p::INTEGER) = 1;
