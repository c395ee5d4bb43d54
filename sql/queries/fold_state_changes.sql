-- Close the open interval of every (server, check, subject) whose state changed in `batch`,
-- then open a new one. Runs before fold_current_state, which reads `batch_changes` and drops it.
-- `batch` is joined to current_state once, here: the rows whose state differs (or that are new,
-- `previous` NULL) are a few per slot, so the statements below touch only those (three joins of
-- the whole batch on (server, check, subject), and INSERT OR REPLACE of every row, cost a slot at
-- 10,000 servers a fifth of a second).
CREATE OR REPLACE TEMP TABLE batch_changes AS
SELECT b.server, b.check_name, b.subject, b.state::sample_state AS state, b.ts, b.value,
       b.detail, c.state AS previous
FROM batch AS b
LEFT JOIN current_state AS c USING (server, check_name, subject)
WHERE c.state IS DISTINCT FROM b.state::sample_state;

UPDATE state_changes AS s
SET ended = b.ts
FROM batch_changes AS b
WHERE b.previous IS NOT NULL
  AND s.server = b.server
  AND s.check_name = b.check_name
  AND s.subject = b.subject
  AND s.ended IS NULL;

INSERT INTO state_changes
SELECT server, check_name, subject, state, ts, NULL, detail
FROM batch_changes;
