-- Per-server figures for the fleet grid from current_state: only the rows of each server's
-- latest probe count (a camera removed from the server stops counting). $1: server ids, or NULL
-- for all.
WITH latest AS (
    SELECT *, max(last_ts) OVER (PARTITION BY server) AS server_ts
    FROM current_state
    WHERE $1::VARCHAR[] IS NULL OR list_contains($1::VARCHAR[], server)
)
SELECT server,
       count(*) FILTER (WHERE check_name = 'camera')::INTEGER AS cameras_total,
       count(*) FILTER (WHERE check_name = 'camera' AND value = 1)::INTEGER AS cameras_online,
       count(*) FILTER (WHERE check_name = 'camera' AND state = 'unknown')::INTEGER AS cameras_unknown,
       max(value) FILTER (WHERE check_name = 'cpu' AND state <> 'unknown') AS cpu,
       max(value) FILTER (WHERE check_name = 'disk_activity' AND state <> 'unknown') AS disk,
       max(server_ts) AS last_check,
       max(state::VARCHAR) FILTER (WHERE check_name = 'server_online') AS online,
       list({'check': check_name, 'subject': subject, 'consecutive': consecutive,
             'detail': detail} ORDER BY check_name, subject) FILTER (WHERE state = 'fail')
           AS failing
FROM latest
WHERE last_ts = server_ts
GROUP BY server
