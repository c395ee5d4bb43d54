-- nls store, version 4: the incident desk. All times are UTC (TIMESTAMPTZ).
--
-- The daemon owns these tables like every other: consoles and commands act through its socket.
-- An incident row holds what was true when it was opened plus two columns kept in step with its
-- events (status, priority) so lists and monitoring can filter without replaying histories;
-- the timers are never stored: they are recomputed from the events and the policy.

CREATE TABLE incidents (
    id                BIGINT PRIMARY KEY,       -- assigned by the owning process, 1, 2, ...
    title             VARCHAR NOT NULL,
    type              VARCHAR NOT NULL,         -- outage | problem | question | wish | rma
    priority          VARCHAR NOT NULL,         -- the current one (after priority events)
    opening_priority  VARCHAR NOT NULL,         -- the one it was opened with (timers start here)
    status            VARCHAR NOT NULL,         -- open | waiting | resolved | closed
    server            VARCHAR,                  -- optional: a question needs no server
    customer          VARCHAR NOT NULL,
    installer         VARCHAR NOT NULL,         -- the customer's installer when it was opened
    policy            VARCHAR NOT NULL,         -- the [sla_policies.NAME] of its timers
    opened_at         TIMESTAMPTZ NOT NULL,     -- when the request came in (may be back-dated)
    recorded_at       TIMESTAMPTZ NOT NULL,     -- when nls stored it
    opened_by         VARCHAR NOT NULL,         -- OS user of the process that asked, or monitoring
    source            VARCHAR NOT NULL          -- monitoring | manual
);

-- Monitoring finds "the open outage incident of this server" with server + status + type.
CREATE INDEX incidents_server ON incidents (server);

-- Append-only history: nothing here is ever updated or deleted. (`ts`, as in samples: AT is a
-- keyword of DuckDB's SQL.)
CREATE TABLE incident_events (
    incident     BIGINT NOT NULL,
    seq          INTEGER NOT NULL,              -- 1, 2, ... per incident, in recording order
    ts           TIMESTAMPTZ NOT NULL,          -- when it happened (--at for calls logged later)
    recorded_at  TIMESTAMPTZ NOT NULL,
    author       VARCHAR NOT NULL,
    kind         VARCHAR NOT NULL,              -- customer-message | reply | note | ack | waiting
                                                -- | resume | resolve | close | reopen | priority
    text         VARCHAR NOT NULL,
    PRIMARY KEY (incident, seq)
);
