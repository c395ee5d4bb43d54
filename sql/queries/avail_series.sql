-- Accounting, step 1 (compact layout: samples.series -> series.id): the group's series.
CREATE OR REPLACE TEMP TABLE acct_series AS
SELECT id::INTEGER AS sid, server, check_name, subject
FROM series
WHERE list_contains($checks::VARCHAR[], check_name)
  AND server IN (SELECT server FROM acct_group);
