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
    detail = b.detail,
    -- the failure run: an unknown sample neither counts nor resets it (migration 007)
    failures = CASE b.state WHEN 'fail' THEN coalesce(c.failures, 0) + 1 WHEN 'ok' THEN 0
                            ELSE coalesce(c.failures, 0) END,
    failed_since = CASE b.state WHEN 'fail' THEN coalesce(c.failed_since, b.ts)
                                WHEN 'ok' THEN NULL ELSE c.failed_since END
FROM batch AS b
WHERE c.server = b.server AND c.check_name = b.check_name AND c.subject = b.subject
  AND b.ts >= c.last_ts;  -- an older sample (refold_predecessors.sql) never moves it back

INSERT INTO current_state
SELECT server, check_name, subject, state, ts, ts, 1, value, detail,
       CASE WHEN state = 'fail' THEN 1 ELSE 0 END, CASE WHEN state = 'fail' THEN ts END
FROM batch_changes
WHERE previous IS NULL;

DROP TABLE batch_changes;
