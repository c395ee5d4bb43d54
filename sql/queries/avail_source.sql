-- Accounting, step 1b (compact layout): the group's samples as (ts, sid, state), from the
-- store's `sample_states` view (raw rows and archive, no detail rendering).
CREATE OR REPLACE TEMP VIEW acct_src AS
SELECT ts, series::INTEGER AS sid, state
FROM sample_states
WHERE series IN (SELECT sid FROM acct_series);
