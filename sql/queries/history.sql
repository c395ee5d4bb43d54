-- (ts, value) of one server-level check since $3, oldest first, from the rollups (never the
-- raw samples): hourly averages for spans up to 8 days before $4 (now), daily ones beyond;
-- $1 server, $2 check.
SELECT hour AS ts, value_sum / nullif(value_n, 0) AS value
FROM rollup_hour
WHERE $3::TIMESTAMPTZ >= $4::TIMESTAMPTZ - INTERVAL 8 DAY
  AND hour >= date_trunc('hour', $3::TIMESTAMPTZ) AND server = $1 AND check_name = $2
UNION ALL
SELECT day AS ts, value_sum / nullif(value_n, 0) AS value
FROM rollup_day
WHERE $3::TIMESTAMPTZ < $4::TIMESTAMPTZ - INTERVAL 8 DAY
  AND day >= date_trunc('day', $3::TIMESTAMPTZ) AND server = $1 AND check_name = $2
ORDER BY ts
