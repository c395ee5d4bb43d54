-- nls store, version 3: raw samples in a compact layout, hourly and daily rollups.
--
-- `samples` becomes a view with the same columns as before (ts, cycle, server, check_name,
-- subject, state, value, latency_ms, detail; plus `series`), created by the store over
-- `sample_rows` and the Parquet archive of older months (console/store/database.py). Rows of
-- `sample_rows` refer to a `series` (server, check, subject) and to a detail template
-- (console/store/compact.py); NULL detail = the usual template of its check and state.

CREATE TABLE series (
    id          INTEGER PRIMARY KEY,
    server      VARCHAR NOT NULL,
    check_name  VARCHAR NOT NULL,
    subject     VARCHAR NOT NULL,
    label       VARCHAR NOT NULL      -- the camera's name when first seen; renders {label}
);

CREATE TABLE details (
    id        INTEGER PRIMARY KEY,
    template  VARCHAR NOT NULL
);

CREATE TABLE detail_defaults (
    check_name  VARCHAR NOT NULL,
    state       UTINYINT NOT NULL,    -- 0 ok, 1 fail, 2 unknown
    detail      INTEGER NOT NULL,
    PRIMARY KEY (check_name, state)
);

CREATE TABLE sample_rows (
    cycle       BIGINT NOT NULL,
    ts          TIMESTAMPTZ NOT NULL,
    series      INTEGER NOT NULL,
    state       UTINYINT NOT NULL,    -- 0 ok, 1 fail, 2 unknown
    value       DOUBLE,               -- rounded to 0.01
    latency_ms  DOUBLE,               -- rounded to 0.1
    detail      INTEGER               -- NULL: detail_defaults for (check, state)
);

-- Per (hour | day, server, check): how many samples were ok, failed or unknown, and the
-- value's count, sum, min and max; written with each batch in its transaction, so history
-- screens and monthly figures never scan raw samples.
CREATE TABLE rollup_hour (
    hour        TIMESTAMPTZ NOT NULL,
    server      VARCHAR NOT NULL,
    check_name  VARCHAR NOT NULL,
    ok          INTEGER NOT NULL,
    fail        INTEGER NOT NULL,
    unknown     INTEGER NOT NULL,
    value_n     INTEGER NOT NULL,
    value_sum   DOUBLE,
    value_min   DOUBLE,
    value_max   DOUBLE
);

CREATE TABLE rollup_day (
    day         TIMESTAMPTZ NOT NULL,
    server      VARCHAR NOT NULL,
    check_name  VARCHAR NOT NULL,
    ok          INTEGER NOT NULL,
    fail        INTEGER NOT NULL,
    unknown     INTEGER NOT NULL,
    value_n     INTEGER NOT NULL,
    value_sum   DOUBLE,
    value_min   DOUBLE,
    value_max   DOUBLE
);

-- The samples written before version 3 move over as they are (each detail its own template).
INSERT INTO series
SELECT (row_number() OVER (ORDER BY k.server, k.check_name, k.subject))::INTEGER,
       k.server, k.check_name, k.subject, coalesce(c.name, '')
FROM (SELECT DISTINCT server, check_name, subject FROM samples) AS k
LEFT JOIN cameras AS c
       ON k.check_name = 'camera' AND c.server = k.server AND c.camera = k.subject;

INSERT INTO details
SELECT (row_number() OVER (ORDER BY detail))::INTEGER, detail
FROM (SELECT DISTINCT detail FROM samples);

INSERT INTO sample_rows
SELECT o.cycle, o.ts, s.id,
       CASE o.state WHEN 'ok' THEN 0 WHEN 'fail' THEN 1 ELSE 2 END,
       o.value, o.latency_ms, d.id
FROM samples AS o
JOIN series AS s USING (server, check_name, subject)
JOIN details AS d ON d.template = o.detail
ORDER BY o.cycle, s.id;

INSERT INTO rollup_hour
SELECT date_trunc('hour', ts), server, check_name,
       count(*) FILTER (WHERE state = 'ok'), count(*) FILTER (WHERE state = 'fail'),
       count(*) FILTER (WHERE state = 'unknown'),
       count(value), sum(value), min(value), max(value)
FROM samples
GROUP BY ALL
ORDER BY 1, 2, 3;

INSERT INTO rollup_day
SELECT date_trunc('day', hour), server, check_name, sum(ok), sum(fail), sum(unknown),
       sum(value_n), sum(value_sum), min(value_min), max(value_max)
FROM rollup_hour
GROUP BY ALL
ORDER BY 1, 2, 3;

DROP TABLE samples;
