-- Per day of the month (acct_days: each server's wall-clock days in its zone): minutes of
-- downtime (failed, not excused) and unknown time over the servers in scope, from acct_islands.
WITH fail AS (SELECT * FROM acct_islands WHERE label = 'fail'),
anyk AS (SELECT * FROM acct_islands WHERE label = 'any'),
failed AS (
    SELECT d.day, sum(epoch(least(f.ends, d.ends)) - epoch(greatest(f.starts, d.starts))) AS secs
    FROM fail AS f JOIN acct_days AS d
      ON d.server = f.server AND d.starts < f.ends AND d.ends > f.starts
    GROUP BY d.day
),
excused AS (
    SELECT d.day,
           sum(epoch(least(f.ends, d.ends, x.ends))
               - epoch(greatest(f.starts, d.starts, x.starts))) AS secs
    FROM fail AS f
    JOIN acct_x AS x ON x.server = f.server AND x.starts < f.ends AND x.ends > f.starts
    JOIN acct_days AS d
      ON d.server = f.server AND d.starts < least(f.ends, x.ends)
     AND d.ends > greatest(f.starts, x.starts)
    GROUP BY d.day
),
notok AS (
    SELECT d.day, sum(epoch(least(a.ends, d.ends)) - epoch(greatest(a.starts, d.starts))) AS secs
    FROM anyk AS a JOIN acct_days AS d
      ON d.server = a.server AND d.starts < a.ends AND d.ends > a.starts
    GROUP BY d.day
),
period AS (
    SELECT day, sum(epoch(ends) - epoch(starts)) AS secs,
           sum(epoch(ends) - epoch(starts)) FILTER (WHERE server NOT IN (SELECT server FROM acct_seen))
               AS unseen
    FROM acct_days GROUP BY day
)
SELECT p.day,
       round(p.secs / 60, 3) AS period_minutes,
       round((coalesce(f.secs, 0) - coalesce(x.secs, 0)) / 60, 3) AS downtime_minutes,
       round((coalesce(n.secs, 0) - coalesce(f.secs, 0) + coalesce(p.unseen, 0)) / 60, 3)
           AS unknown_minutes,
       round(100 * (p.secs - coalesce(f.secs, 0) + coalesce(x.secs, 0)) / p.secs, 4)
           AS availability_pct
FROM period AS p
LEFT JOIN failed AS f USING (day)
LEFT JOIN excused AS x USING (day)
LEFT JOIN notok AS n USING (day)
ORDER BY p.day;
