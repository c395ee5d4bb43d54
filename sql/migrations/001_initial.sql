-- nls store, version 1. All times are UTC (TIMESTAMPTZ); views convert at the edges.

CREATE TYPE sample_state AS ENUM ('ok', 'fail', 'unknown');

-- Inventory, synced from the configuration on every start (rows absent from the config are
-- marked retired, never deleted, so history keeps its names).
CREATE TABLE installers (
    id        VARCHAR PRIMARY KEY,
    name      VARCHAR NOT NULL,
    emails    VARCHAR[] NOT NULL,
    language  VARCHAR NOT NULL,
    retired   BOOLEAN NOT NULL DEFAULT false
);

CREATE TABLE customers (
    id         VARCHAR PRIMARY KEY,
    name       VARCHAR NOT NULL,
    installer  VARCHAR NOT NULL,
    sla_plan   VARCHAR,
    timezone   VARCHAR NOT NULL,
    retired    BOOLEAN NOT NULL DEFAULT false
);

CREATE TABLE servers (
    id          VARCHAR PRIMARY KEY,
    name        VARCHAR NOT NULL,
    customer    VARCHAR NOT NULL,
    address     VARCHAR NOT NULL,
    platform    VARCHAR NOT NULL,
    delivered   DATE,
    api_url     VARCHAR NOT NULL,
    retired     BOOLEAN NOT NULL DEFAULT false
);

-- Cameras as seen through the Eocortex API; kept when the server is unreachable so that their
-- samples can be recorded as unknown rather than vanish. Written only when a camera appears or
-- is renamed (when it was last seen is current_state.last_ts).
CREATE TABLE cameras (
    server      VARCHAR NOT NULL,
    camera      VARCHAR NOT NULL,
    name        VARCHAR NOT NULL,
    first_seen  TIMESTAMPTZ NOT NULL,
    renamed     TIMESTAMPTZ,
    PRIMARY KEY (server, camera)
);

-- One row per probe cycle, so gaps (the monitor itself down) are visible as unknown time.
CREATE TABLE cycles (
    id          BIGINT PRIMARY KEY,
    started     TIMESTAMPTZ NOT NULL,
    finished    TIMESTAMPTZ NOT NULL,
    servers     INTEGER NOT NULL,
    samples     INTEGER NOT NULL
);

-- Every probe result. Written a cycle at a time through Arrow, never row by row.
CREATE TABLE samples (
    ts          TIMESTAMPTZ NOT NULL,
    cycle       BIGINT NOT NULL,
    server      VARCHAR NOT NULL,
    check_name  VARCHAR NOT NULL,
    subject     VARCHAR NOT NULL,
    state       sample_state NOT NULL,
    value       DOUBLE,
    latency_ms  DOUBLE,
    detail      VARCHAR NOT NULL
);

-- The latest sample per (server, check, subject) plus its run length, maintained at write time
-- so that screens and alerting never rescan history.
CREATE TABLE current_state (
    server        VARCHAR NOT NULL,
    check_name    VARCHAR NOT NULL,
    subject       VARCHAR NOT NULL,
    state         sample_state NOT NULL,
    since         TIMESTAMPTZ NOT NULL,
    last_ts       TIMESTAMPTZ NOT NULL,
    consecutive   INTEGER NOT NULL,
    value         DOUBLE,
    detail        VARCHAR NOT NULL,
    PRIMARY KEY (server, check_name, subject)
);

-- Intervals of constant state, closed when the state changes (ended NULL = still open).
-- Availability reports sum these instead of scanning samples.
CREATE TABLE state_changes (
    server        VARCHAR NOT NULL,
    check_name    VARCHAR NOT NULL,
    subject       VARCHAR NOT NULL,
    state         sample_state NOT NULL,
    started       TIMESTAMPTZ NOT NULL,
    ended         TIMESTAMPTZ,
    detail        VARCHAR NOT NULL
);

-- Three-strike alert state per (server, check, subject).
CREATE TABLE alert_state (
    server          VARCHAR NOT NULL,
    check_name      VARCHAR NOT NULL,
    subject         VARCHAR NOT NULL,
    status          VARCHAR NOT NULL,          -- ok | pending | alerting
    failures        INTEGER NOT NULL,
    successes       INTEGER NOT NULL,
    first_failed    TIMESTAMPTZ,
    alerted_at      TIMESTAMPTZ,
    last_cycle      BIGINT NOT NULL,
    PRIMARY KEY (server, check_name, subject)
);

-- Every notification is stored before it is sent; `key` makes a resend after a crash idempotent.
CREATE TABLE outbox (
    key            VARCHAR PRIMARY KEY,
    created        TIMESTAMPTZ NOT NULL,
    kind           VARCHAR NOT NULL,           -- alert | recovery | ...
    server         VARCHAR,
    installer      VARCHAR,
    recipients     VARCHAR[] NOT NULL,
    subject        VARCHAR NOT NULL,
    body_text      VARCHAR NOT NULL,
    body_html      VARCHAR NOT NULL,
    status         VARCHAR NOT NULL,           -- pending | sent | failed
    attempts       INTEGER NOT NULL DEFAULT 0,
    next_attempt   TIMESTAMPTZ NOT NULL,
    last_error     VARCHAR,
    sent_at        TIMESTAMPTZ
);

-- Maintenance windows: one-off (starts/ends) or recurring (cron in a time zone + duration).
CREATE TABLE maintenance (
    id             BIGINT PRIMARY KEY,
    scope_kind     VARCHAR NOT NULL,           -- server | customer | installer
    scope_id       VARCHAR NOT NULL,
    starts         TIMESTAMPTZ,
    ends           TIMESTAMPTZ,
    cron           VARCHAR,
    timezone       VARCHAR,
    duration_min   INTEGER,
    reason         VARCHAR NOT NULL,
    announced_at   TIMESTAMPTZ NOT NULL,
    created_by     VARCHAR NOT NULL,
    removed_at     TIMESTAMPTZ
);

-- SSH host keys pinned on first use (opt-in), for change detection.
CREATE TABLE host_keys (
    server       VARCHAR PRIMARY KEY,
    key          VARCHAR NOT NULL,
    fingerprint  VARCHAR NOT NULL,
    pinned_at    TIMESTAMPTZ NOT NULL
);

-- Security findings (video rights granted to the monitoring user, host key changed, ...).
CREATE TABLE findings (
    ts        TIMESTAMPTZ NOT NULL,
    server    VARCHAR NOT NULL,
    kind      VARCHAR NOT NULL,
    detail    VARCHAR NOT NULL
);
