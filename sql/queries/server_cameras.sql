-- Every camera of server $1 as last probed, with its state and since when.
SELECT c.camera, c.name, coalesce(s.state::VARCHAR, 'unknown') AS state, s.since,
       coalesce(s.detail, '') AS detail
FROM cameras AS c
LEFT JOIN current_state AS s
       ON s.server = c.server AND s.check_name = 'camera' AND s.subject = c.camera
WHERE c.server = $1
ORDER BY (s.state = 'fail') DESC, c.name
