-- (ts, value) of one server-level check since $3, oldest first. $1 server, $2 check.
SELECT ts, value
FROM samples
WHERE server = $1 AND check_name = $2 AND subject = '' AND ts >= $3::TIMESTAMPTZ
ORDER BY ts
