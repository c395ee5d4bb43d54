-- Time-weighted share of known time a check was ok, per server and check, over [$1, $2).
-- Unknown time (nothing answered the monitor, or the monitor was down) is left out, never
-- charged. $3: server ids, or NULL for all; $4: check names, or NULL for all.
WITH spans AS (
    SELECT server, check_name, subject, state,
           epoch(least(coalesce(ended, $2::TIMESTAMPTZ), $2::TIMESTAMPTZ))
             - epoch(greatest(started, $1::TIMESTAMPTZ)) AS secs
    FROM state_changes
    WHERE started < $2::TIMESTAMPTZ
      AND coalesce(ended, $2::TIMESTAMPTZ) > $1::TIMESTAMPTZ
      AND ($3::VARCHAR[] IS NULL OR list_contains($3::VARCHAR[], server))
      AND ($4::VARCHAR[] IS NULL OR list_contains($4::VARCHAR[], check_name))
)
SELECT server, check_name,
       sum(secs) FILTER (WHERE state = 'ok')
         / nullif(sum(secs) FILTER (WHERE state <> 'unknown'), 0) AS availability,
       coalesce(sum(secs) FILTER (WHERE state <> 'unknown'), 0) AS known_s
FROM spans
GROUP BY server, check_name
