-- Accounting: the qualifying excuses (maintenance that meets the policy, live exclusions) of
-- each server merged into disjoint intervals, so overlaps with failed time add up exactly.
CREATE OR REPLACE TEMP TABLE acct_x AS
WITH q AS (
    SELECT server, starts, ends,
           CASE WHEN starts <= max(ends) OVER (
                    PARTITION BY server ORDER BY starts, ends
                    ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                THEN 0 ELSE 1 END AS new_island
    FROM acct_xsrc
    WHERE qualifies
)
SELECT server, min(starts) AS starts, max(ends) AS ends
FROM (SELECT *, sum(new_island) OVER (PARTITION BY server ORDER BY starts, ends) AS island FROM q)
GROUP BY server, island;
