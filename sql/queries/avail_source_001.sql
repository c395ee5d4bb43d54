-- Accounting, step 1b (layout 001): the group's samples as (ts, sid, state).
CREATE OR REPLACE TEMP VIEW acct_src AS
SELECT s.ts, d.sid, s.state
FROM samples AS s
JOIN acct_series AS d
  ON s.server = d.server AND s.check_name = d.check_name AND s.subject = d.subject;
