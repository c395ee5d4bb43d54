-- Accounting (compact layout with predecessors): the report rows whose series sampled around
-- the month (first sample before its end, latest at or after the look-back start).
INSERT INTO acct_seen
SELECT DISTINCT d.server, CASE WHEN $per_subject THEN d.subject ELSE '' END
FROM acct_series AS d
JOIN series AS s ON s.id = d.sid
JOIN current_state AS c
  ON c.server = d.server AND c.check_name = d.check_name AND c.subject = d.subject
WHERE s.first_ts < $hi AND c.last_ts >= $lo;
