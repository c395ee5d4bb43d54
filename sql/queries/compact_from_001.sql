-- Prototype of the compact samples layout (a proposal for the store's write path, migration
-- 003): samples keyed by an INTEGER series id, `detail` kept only when a sample is not ok, and
-- each sample carrying what its series' previous sample was (gap, state, failure run). The
-- writer knows all of it from current_state when it appends a batch; with it a month's
-- availability reads only the rare samples that follow a failure or a gap (zonemaps skip the
-- rest), never sorting a month of samples. This statement converts a 001 store in place (tests,
-- benchmark); current_state gains the failure run of each series' latest sample.
ALTER TABLE samples RENAME TO samples_001;

CREATE TABLE series (
    id          INTEGER PRIMARY KEY,
    server      VARCHAR NOT NULL,
    check_name  VARCHAR NOT NULL,
    subject     VARCHAR NOT NULL,
    first_ts    TIMESTAMPTZ NOT NULL,
    UNIQUE (server, check_name, subject)
);

INSERT INTO series
SELECT (row_number() OVER (ORDER BY server, check_name, subject))::INTEGER,
       server, check_name, subject, first_ts
FROM (SELECT server, check_name, subject, min(ts) AS first_ts FROM samples_001 GROUP BY ALL);

CREATE TABLE samples (
    ts                 TIMESTAMPTZ NOT NULL,
    cycle              BIGINT NOT NULL,
    series             INTEGER NOT NULL,
    state              sample_state NOT NULL,
    value              FLOAT,
    latency_ms         FLOAT,
    detail             VARCHAR,        -- NULL when the state is ok
    gap_us             BIGINT,         -- since the series' previous sample; NULL for its first
    prev_state         sample_state,   -- the previous sample's state
    prev_failures      INTEGER,        -- failed samples in a row up to the previous one
                                       -- (an unknown sample neither counts nor resets)
    prev_failed_since  TIMESTAMPTZ     -- when that run of failures began
);

INSERT INTO samples
WITH s AS (
    SELECT x.*, d.id AS sid,
           sum((x.state = 'ok')::INTEGER) OVER w AS oks
    FROM samples_001 AS x
    JOIN series AS d USING (server, check_name, subject)
    WINDOW w AS (PARTITION BY d.id ORDER BY x.ts)
),
f AS (
    SELECT *,
           count(*) FILTER (WHERE state = 'fail') OVER r AS failures,
           min(ts) FILTER (WHERE state = 'fail') OVER r AS failed_since
    FROM s
    WINDOW r AS (PARTITION BY sid, oks ORDER BY ts)
)
SELECT ts, cycle, sid, state, value, latency_ms,
       CASE WHEN state = 'ok' THEN NULL ELSE detail END,
       epoch_us(ts) - epoch_us(lag(ts) OVER w),
       lag(state) OVER w,
       lag(failures) OVER w,
       lag(failed_since) OVER w
FROM f
WINDOW w AS (PARTITION BY sid ORDER BY ts)
ORDER BY ts, sid;

ALTER TABLE current_state ADD COLUMN failures INTEGER;
ALTER TABLE current_state ADD COLUMN failed_since TIMESTAMPTZ;

UPDATE current_state AS c
SET failures = l.failures, failed_since = l.failed_since
FROM (
    SELECT d.server, d.check_name, d.subject,
           arg_max(CASE WHEN s.state = 'fail' THEN coalesce(s.prev_failures, 0) + 1
                        WHEN s.state = 'ok' THEN 0 ELSE coalesce(s.prev_failures, 0) END, s.ts)
               AS failures,
           arg_max(CASE WHEN s.state = 'fail' THEN coalesce(s.prev_failed_since, s.ts)
                        WHEN s.state = 'ok' THEN NULL ELSE s.prev_failed_since END, s.ts)
               AS failed_since
    FROM samples AS s JOIN series AS d ON d.id = s.series
    GROUP BY ALL
) AS l
WHERE c.server = l.server AND c.check_name = l.check_name AND c.subject = l.subject;

DROP TABLE samples_001;

-- What accounting reads of every sample (the store's own view of the same name).
CREATE VIEW sample_states AS
SELECT ts, series, state, gap_us, prev_state, prev_failures, prev_failed_since FROM samples;
