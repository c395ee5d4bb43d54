-- The latest $2 samples of server $1, newest first (server-level checks before cameras).
SELECT ts, check_name, subject, state::VARCHAR AS state, value, detail
FROM samples
WHERE server = $1
ORDER BY ts DESC, (subject = '') DESC, check_name, subject
LIMIT $2
