-- Accounting: where every group's spans are collected (one report call, one transaction).
CREATE OR REPLACE TEMP TABLE acct_spans (
    grp          INTEGER,
    sid          INTEGER,
    server       VARCHAR,
    check_name   VARCHAR,
    subject      VARCHAR,
    row_subject  VARCHAR,       -- '' for server rows, the camera for camera rows
    kind         VARCHAR,       -- fail | unknown (an unknown sample) | gap (no sample)
    starts       TIMESTAMPTZ,
    ends         TIMESTAMPTZ,   -- ends <= starts: a failed sample before the month (run start)
    run          BIGINT,
    confirmed    BOOLEAN,
    sample_ts    TIMESTAMPTZ
);
CREATE OR REPLACE TEMP TABLE acct_seen (server VARCHAR, row_subject VARCHAR);
