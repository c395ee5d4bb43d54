-- Accounting, step 1b (compact layout): the group's samples as (ts, sid, state).
CREATE OR REPLACE TEMP VIEW acct_src AS
SELECT ts, series::INTEGER AS sid, state
FROM samples
WHERE series IN (SELECT sid FROM acct_series);
