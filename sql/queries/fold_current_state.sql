-- The newest sample per (server, check, subject) with how long its state has held. Runs after
-- fold_state_changes, whose `batch_changes` (rows new or changed in `batch`) it reads and drops.
-- Known rows are updated in place (INSERT OR REPLACE deleted and re-inserted every row of the
-- batch in the primary key's index); new ones are inserted.
UPDATE current_state AS c
SET state = b.state::sample_state,
    since = CASE WHEN c.state = b.state::sample_state THEN c.since ELSE b.ts END,
    last_ts = b.ts,
    consecutive = CASE WHEN c.state = b.state::sample_state THEN c.consecutive + 1 ELSE 1 END,
    value = b.value,
    detail = b.detail
FROM batch AS b
WHERE c.server = b.server AND c.check_name = b.check_name AND c.subject = b.subject;

INSERT INTO current_state
SELECT server, check_name, subject, state, ts, ts, 1, value, detail
FROM batch_changes
WHERE previous IS NULL;

DROP TABLE batch_changes;
