-- The newest sample per (server, check, subject) with how long its state has held.
INSERT OR REPLACE INTO current_state
SELECT b.server,
       b.check_name,
       b.subject,
       b.state::sample_state,
       CASE WHEN c.state = b.state::sample_state THEN c.since ELSE b.ts END,
       b.ts,
       CASE WHEN c.state = b.state::sample_state THEN c.consecutive + 1 ELSE 1 END,
       b.value,
       b.detail
FROM batch AS b
LEFT JOIN current_state AS c USING (server, check_name, subject);
