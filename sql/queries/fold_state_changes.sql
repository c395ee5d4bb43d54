-- Close the open interval of every (server, check, subject) whose state changed in `batch`,
-- then open a new one. Runs before fold_current_state, which it reads as the previous state.
UPDATE state_changes AS s
SET ended = b.ts
FROM batch AS b
JOIN current_state AS c USING (server, check_name, subject)
WHERE s.server = b.server
  AND s.check_name = b.check_name
  AND s.subject = b.subject
  AND s.ended IS NULL
  AND c.state <> b.state::sample_state;

INSERT INTO state_changes
SELECT b.server, b.check_name, b.subject, b.state::sample_state, b.ts, NULL, b.detail
FROM batch AS b
LEFT JOIN current_state AS c USING (server, check_name, subject)
WHERE c.state IS NULL OR c.state <> b.state::sample_state;
