-- Accounting, step 1 (layout 001): number the (server, check, subject) series a group counts.
-- current_state holds every series ever sampled, so this never scans samples.
-- $checks: check names; acct_group(server, n_alert): the group's servers.
CREATE OR REPLACE TEMP TABLE acct_series AS
SELECT (row_number() OVER (ORDER BY server, check_name, subject))::INTEGER AS sid,
       server, check_name, subject
FROM current_state
WHERE list_contains($checks::VARCHAR[], check_name)
  AND server IN (SELECT server FROM acct_group);
