-- Outages of the month from the accounting spans: one row per run of failed samples with failed
-- time in the month, and (with $include_unknown) one per stretch of unknown time, each with the
-- excuses that overlap it (qualifying or not) so the report can say why it counted or not.
WITH fails AS (SELECT * FROM acct_spans WHERE kind = 'fail'),
excused AS (
    SELECT f.grp, f.sid, f.sample_ts,
           sum(epoch(least(f.ends, x.ends)) - epoch(greatest(f.starts, x.starts))) AS secs
    FROM fails AS f  -- zero-length rows only mark where a run began
    JOIN acct_x AS x ON x.server = f.server AND x.starts < f.ends AND x.ends > f.starts
    GROUP BY ALL
),
runs AS (
    SELECT f.grp, f.sid, f.run,
           any_value(f.server) AS server, any_value(f.check_name) AS check_name,
           any_value(f.subject) AS subject,
           min(f.sample_ts) AS first_failed,
           max(f.ends) AS ends,
           min(f.starts) FILTER (WHERE f.ends > f.starts) AS month_start,
           sum(greatest(epoch(f.ends) - epoch(f.starts), 0)) AS failed_s,
           coalesce(sum(e.secs), 0) AS excused_s,
           coalesce(sum(greatest(epoch(f.ends) - epoch(f.starts), 0)) FILTER (WHERE f.confirmed), 0)
             - coalesce(sum(e.secs) FILTER (WHERE f.confirmed), 0) AS confirmed_s,
           min(f.sample_ts) FILTER (WHERE f.confirmed) AS confirmed_at,
           count(*) FILTER (WHERE f.ends > f.starts) AS failed_checks
    FROM fails AS f
    LEFT JOIN excused AS e
           ON e.grp = f.grp AND e.sid = f.sid AND e.sample_ts = f.sample_ts AND f.ends > f.starts
    GROUP BY f.grp, f.sid, f.run
    HAVING sum(greatest(epoch(f.ends) - epoch(f.starts), 0)) > 0
),
unknown_marked AS (
    SELECT *,
           CASE WHEN starts <= max(ends) OVER (
                    PARTITION BY grp, sid ORDER BY starts, ends
                    ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                THEN 0 ELSE 1 END AS new_island
    FROM acct_spans
    WHERE kind IN ('unknown', 'gap') AND ends > starts AND $include_unknown
),
unknowns AS (
    SELECT grp, sid, any_value(server) AS server, any_value(check_name) AS check_name,
           any_value(subject) AS subject, min(starts) AS starts, max(ends) AS ends,
           bool_or(kind = 'unknown') AS unknown_samples, bool_or(kind = 'gap') AS no_samples
    FROM (SELECT *, sum(new_island) OVER (PARTITION BY grp, sid ORDER BY starts, ends) AS island
          FROM unknown_marked)
    GROUP BY grp, sid, island
),
listed AS (
    SELECT server, check_name, subject, first_failed AS start, ends AS "end",
           failed_s, failed_s - excused_s AS downtime_s, excused_s, confirmed_s, confirmed_at,
           failed_checks,
           CASE WHEN failed_s - excused_s > 0.0005 THEN 'counted' ELSE 'excluded' END AS status,
           NULL::VARCHAR AS unknown_kind
    FROM runs
    UNION ALL
    SELECT server, check_name, subject, starts, ends,
           epoch(ends) - epoch(starts), 0, 0, 0, NULL, 0, 'unknown',
           CASE WHEN unknown_samples AND no_samples THEN 'both'
                WHEN unknown_samples THEN 'unknown' ELSE 'gap' END
    FROM unknowns
    UNION ALL
    SELECT server, '', '', starts, ends, epoch(ends) - epoch(starts), 0, 0, 0, NULL, 0,
           'unknown', 'gap'
    FROM acct_params
    WHERE $include_unknown AND NOT $per_subject
      AND server NOT IN (SELECT server FROM acct_seen)
)
SELECT l.*, p.customer, p.installer,
       (SELECT list(x.ref || ': ' || x.why ORDER BY x.starts, x.ref)
        FROM acct_xsrc AS x
        WHERE x.server = l.server AND x.qualifies AND x.starts < l."end"
          AND x.ends > greatest(l.start, p.starts)) AS excused_by,
       (SELECT list(x.ref || ': ' || x.why ORDER BY x.starts, x.ref)
        FROM acct_xsrc AS x
        WHERE x.server = l.server AND NOT x.qualifies AND x.starts < l."end"
          AND x.ends > greatest(l.start, p.starts)) AS not_excused_by
FROM listed AS l
JOIN acct_params AS p USING (server)
ORDER BY l.server, l.subject, l.check_name, l.start;
