-- Accounting, last step: seconds per report row (server, row_subject) from the spans.
-- Failed, confirmed and all non-ok spans are merged into islands per row (several counted checks
-- may fail at once; acct_islands, kept for the daily figures), and intersected with the
-- server's excusing intervals (acct_x: merged, so sums of overlaps are exact). Each outage
-- (run) is measured on its own for the outage count and the longest outage.
-- acct_params: one row per server; acct_seen: rows that have samples.
CREATE OR REPLACE TEMP TABLE acct_islands AS
WITH sp AS (SELECT * FROM acct_spans WHERE ends > starts),
labelled AS (
    SELECT 'fail' AS label, server, row_subject, starts, ends FROM sp WHERE kind = 'fail'
    UNION ALL
    SELECT 'conf', server, row_subject, starts, ends FROM sp WHERE kind = 'fail' AND confirmed
    UNION ALL
    SELECT 'any', server, row_subject, starts, ends FROM sp
),
marked AS (
    SELECT *,
           CASE WHEN starts <= max(ends) OVER (
                    PARTITION BY label, server, row_subject ORDER BY starts, ends
                    ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                THEN 0 ELSE 1 END AS new_island
    FROM labelled
)
SELECT label, server, row_subject, min(starts) AS starts, max(ends) AS ends
FROM (
    SELECT *, sum(new_island) OVER (
                  PARTITION BY label, server, row_subject ORDER BY starts, ends) AS island
    FROM marked
)
GROUP BY label, server, row_subject, island;

CREATE OR REPLACE TEMP TABLE acct_raw AS
WITH sp AS (SELECT * FROM acct_spans WHERE ends > starts),
islands AS (SELECT * FROM acct_islands),
measured AS (
    SELECT i.label, i.server, i.row_subject,
           sum(epoch(i.ends) - epoch(i.starts)) AS secs,
           sum(coalesce(x.secs, 0)) AS excused
    FROM islands AS i
    LEFT JOIN (
        SELECT i2.label, i2.server, i2.row_subject, i2.starts,
               sum(epoch(least(i2.ends, x.ends)) - epoch(greatest(i2.starts, x.starts))) AS secs
        FROM islands AS i2
        JOIN acct_x AS x ON x.server = i2.server AND x.starts < i2.ends AND x.ends > i2.starts
        GROUP BY ALL
    ) AS x USING (label, server, row_subject, starts)
    GROUP BY i.label, i.server, i.row_subject
),
runs AS (
    SELECT s.grp, s.sid, s.run, any_value(s.server) AS server,
           any_value(s.row_subject) AS row_subject,
           sum(epoch(s.ends) - epoch(s.starts))
             - coalesce(sum(x.secs), 0) AS counted
    FROM sp AS s
    LEFT JOIN (
        SELECT s2.grp, s2.sid, s2.sample_ts,
               sum(epoch(least(s2.ends, x.ends)) - epoch(greatest(s2.starts, x.starts))) AS secs
        FROM sp AS s2
        JOIN acct_x AS x ON x.server = s2.server AND x.starts < s2.ends AND x.ends > s2.starts
        WHERE s2.kind = 'fail'
        GROUP BY ALL
    ) AS x USING (grp, sid, sample_ts)
    WHERE s.kind = 'fail'
    GROUP BY s.grp, s.sid, s.run
),
per_row AS (
    SELECT server, row_subject,
           count(*) FILTER (WHERE counted > 0.0005) AS outages,
           coalesce(max(counted) FILTER (WHERE counted > 0.0005), 0) AS longest
    FROM runs
    GROUP BY ALL
),
rows AS (
    SELECT server, row_subject FROM acct_seen
    UNION
    SELECT server, '' FROM acct_params WHERE NOT $per_subject
)
SELECT p.server, r.row_subject, p.customer, p.installer, p.interval_s, p.target_pct,
       p.denominator_excludes,
       epoch(p.ends) - epoch(p.starts) AS period_s,
       coalesce(f.secs, 0) - coalesce(f.excused, 0) AS down_s,
       coalesce(c.secs, 0) - coalesce(c.excused, 0) AS confirmed_s,
       coalesce(f.excused, 0) AS excluded_s,
       CASE WHEN s.server IS NULL THEN epoch(p.ends) - epoch(p.starts)
            ELSE coalesce(a.secs, 0) - coalesce(f.secs, 0) END AS unknown_s,
       coalesce(o.outages, 0) AS outages,
       coalesce(o.longest, 0) AS longest_s
FROM rows AS r
JOIN acct_params AS p USING (server)
LEFT JOIN (SELECT DISTINCT server, row_subject FROM acct_seen) AS s USING (server, row_subject)
LEFT JOIN measured AS f ON f.label = 'fail' AND f.server = r.server AND f.row_subject = r.row_subject
LEFT JOIN measured AS c ON c.label = 'conf' AND c.server = r.server AND c.row_subject = r.row_subject
LEFT JOIN measured AS a ON a.label = 'any' AND a.server = r.server AND a.row_subject = r.row_subject
LEFT JOIN per_row AS o ON o.server = r.server AND o.row_subject = r.row_subject;
