-- Accounting: the report rows a group has samples for.
INSERT INTO acct_seen
SELECT DISTINCT d.server, CASE WHEN $per_subject THEN d.subject ELSE '' END
FROM acct_stats AS st JOIN acct_series AS d USING (sid);
