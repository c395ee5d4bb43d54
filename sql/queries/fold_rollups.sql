-- Add `batch` to the hourly and daily rollups, in the transaction that stores its samples.
-- $hour: the batch's first hour, $day: its first day (constant filters let DuckDB skip every older
-- row group instead of scanning months of rollups per batch).
CREATE OR REPLACE TEMP TABLE batch_hours AS
SELECT date_trunc('hour', ts) AS hour, server, check_name,
       (count(*) FILTER (WHERE state = 'ok'))::INTEGER AS ok,
       (count(*) FILTER (WHERE state = 'fail'))::INTEGER AS fail,
       (count(*) FILTER (WHERE state = 'unknown'))::INTEGER AS unknown,
       count(value)::INTEGER AS value_n, sum(value) AS value_sum,
       min(value) AS value_min, max(value) AS value_max
FROM batch
GROUP BY ALL;

UPDATE rollup_hour AS r
SET ok = r.ok + b.ok, fail = r.fail + b.fail, unknown = r.unknown + b.unknown,
    value_n = r.value_n + b.value_n,
    value_sum = CASE WHEN b.value_n = 0 THEN r.value_sum WHEN r.value_n = 0 THEN b.value_sum
                     ELSE r.value_sum + b.value_sum END,
    value_min = least(r.value_min, b.value_min), value_max = greatest(r.value_max, b.value_max)
FROM batch_hours AS b
WHERE r.hour >= $hour AND r.hour = b.hour AND r.server = b.server AND r.check_name = b.check_name;

INSERT INTO rollup_hour
SELECT b.* FROM batch_hours AS b
WHERE NOT EXISTS (
    SELECT 1 FROM rollup_hour AS r
    WHERE r.hour >= $hour AND r.hour = b.hour AND r.server = b.server AND r.check_name = b.check_name
)
ORDER BY b.hour, b.server, b.check_name;

CREATE OR REPLACE TEMP TABLE batch_days AS
SELECT date_trunc('day', hour) AS day, server, check_name,
       sum(ok)::INTEGER AS ok, sum(fail)::INTEGER AS fail, sum(unknown)::INTEGER AS unknown,
       sum(value_n)::INTEGER AS value_n, sum(value_sum) AS value_sum,
       min(value_min) AS value_min, max(value_max) AS value_max
FROM batch_hours
GROUP BY ALL;

UPDATE rollup_day AS r
SET ok = r.ok + b.ok, fail = r.fail + b.fail, unknown = r.unknown + b.unknown,
    value_n = r.value_n + b.value_n,
    value_sum = CASE WHEN b.value_n = 0 THEN r.value_sum WHEN r.value_n = 0 THEN b.value_sum
                     ELSE r.value_sum + b.value_sum END,
    value_min = least(r.value_min, b.value_min), value_max = greatest(r.value_max, b.value_max)
FROM batch_days AS b
WHERE r.day >= $day AND r.day = b.day AND r.server = b.server AND r.check_name = b.check_name;

INSERT INTO rollup_day
SELECT b.* FROM batch_days AS b
WHERE NOT EXISTS (
    SELECT 1 FROM rollup_day AS r
    WHERE r.day >= $day AND r.day = b.day AND r.server = b.server AND r.check_name = b.check_name
)
ORDER BY b.day, b.server, b.check_name;

DROP TABLE batch_hours;
DROP TABLE batch_days;
