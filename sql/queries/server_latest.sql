-- The latest $2 samples of server $1, newest first (server-level checks before cameras), from
-- current_state: the newest sample of each check and camera, never a scan of raw samples.
SELECT last_ts AS ts, check_name, subject, state::VARCHAR AS state, value, detail
FROM current_state
WHERE server = $1
ORDER BY ts DESC, (subject = '') DESC, check_name, subject
LIMIT $2
