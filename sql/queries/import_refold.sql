-- History import, step 2: recompute the derived tables of the series touched from their whole
-- history (imported samples may land before, between or after the stored ones).
CREATE TEMP TABLE imp_runs AS
WITH s AS (
    SELECT server, check_name, subject, ts, state, value, detail,
           lag(state) OVER w IS DISTINCT FROM state AS changed
    FROM samples
    SEMI JOIN imp_keys USING (server, check_name, subject)
    WINDOW w AS (PARTITION BY server, check_name, subject ORDER BY ts)
)
SELECT *,
       sum(changed::INTEGER) OVER (PARTITION BY server, check_name, subject ORDER BY ts) AS run
FROM s;

DELETE FROM state_changes AS c
USING imp_keys AS k
WHERE c.server = k.server AND c.check_name = k.check_name AND c.subject = k.subject;

INSERT INTO state_changes
SELECT server, check_name, subject, state, ts,
       lead(ts) OVER (PARTITION BY server, check_name, subject ORDER BY ts), detail
FROM imp_runs
WHERE changed;

-- The value stays the one written live when the newest sample is not an imported one: the view
-- gives back FLOAT values (7 significant digits), current_state keeps what the probe measured.
INSERT OR REPLACE INTO current_state
    (server, check_name, subject, state, since, last_ts, consecutive, value, detail)
SELECT r.server, r.check_name, r.subject, r.state, r.since, r.last_ts, r.consecutive,
       CASE WHEN c.last_ts = r.last_ts THEN c.value ELSE r.value END, r.detail
FROM (
    SELECT server, check_name, subject,
           arg_max(state, ts) AS state, min(ts) AS since, max(ts) AS last_ts,
           count(*)::INTEGER AS consecutive, arg_max(value, ts) AS value,
           arg_max(detail, ts) AS detail
    FROM imp_runs
    WHERE (server, check_name, subject, run) IN (
        SELECT server, check_name, subject, max(run) FROM imp_runs GROUP BY ALL
    )
    GROUP BY server, check_name, subject
) AS r
LEFT JOIN current_state AS c USING (server, check_name, subject);

INSERT INTO cameras
SELECT server, subject, subject, min(ts), NULL
FROM imp_runs
WHERE check_name = 'camera' AND subject <> ''
GROUP BY server, subject
ON CONFLICT DO NOTHING;

DROP TABLE imp_runs;
