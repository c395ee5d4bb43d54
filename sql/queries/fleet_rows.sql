-- Per-server figures for the fleet grid from current_state: only the rows of each server's
-- latest probe count (a camera removed from the server stops counting). $1: server ids, or NULL
-- for all. A failing item's `alerted_at` is when its installer was alerted (NULL: not yet).
WITH latest AS (
    SELECT c.*, a.alerted_at, max(c.last_ts) OVER (PARTITION BY c.server) AS server_ts
    FROM current_state AS c
    LEFT JOIN alert_state AS a
           ON a.server = c.server AND a.check_name = c.check_name AND a.subject = c.subject
    WHERE $1::VARCHAR[] IS NULL OR list_contains($1::VARCHAR[], c.server)
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
             'detail': detail, 'alerted_at': alerted_at} ORDER BY check_name, subject)
           FILTER (WHERE state = 'fail')
           AS failing
FROM latest
WHERE last_ts = server_ts
GROUP BY server
