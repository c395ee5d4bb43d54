-- Availability reclassification and service-credit claims (issue 12). Rows are never deleted:
-- an exclusion is undone by stamping revoked_at/revoked_by, so every past report can be
-- explained and recomputed as of any moment.

-- Failed time excused after the fact (customer fault, force majeure, third party: the SAFR
-- exceptions), per server, [starts, ends) in UTC.
CREATE TABLE exclusions (
    id          BIGINT PRIMARY KEY,
    server      VARCHAR NOT NULL,
    starts      TIMESTAMPTZ NOT NULL,
    ends        TIMESTAMPTZ NOT NULL,
    reason      VARCHAR NOT NULL,
    author      VARCHAR NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ,
    revoked_by  VARCHAR,
    CHECK (ends > starts)
);

-- A customer's written claim of one Service Level Failure of a month (SAFR: within 7 days).
-- `failure` is the failure's reference as the credits report lists it.
CREATE TABLE credit_claims (
    customer     VARCHAR NOT NULL,
    month        VARCHAR NOT NULL,           -- YYYY-MM
    failure      VARCHAR NOT NULL,
    claimed_at   TIMESTAMPTZ NOT NULL,       -- when the customer claimed (may be given afterwards)
    author       VARCHAR NOT NULL,
    recorded_at  TIMESTAMPTZ NOT NULL,       -- when it was entered
    PRIMARY KEY (customer, month, failure)
);
