-- Issue 19: the gate before a deploy.
-- A deploy's build, to find the same sha promoted upstream (`require_promoted_in`).
ALTER TABLE deploys ADD COLUMN sha TEXT;
CREATE INDEX deploys_by_build ON deploys (service, environment, sha);

-- Freezes people set (`/canary freeze`); scheduled ones live in the configuration.
CREATE TABLE freezes (
    id           TEXT PRIMARY KEY,
    -- `all`, or the service's name
    scope        TEXT NOT NULL,
    by_id        TEXT NOT NULL,
    by_name      TEXT NOT NULL,
    reason       TEXT,
    at_ms        BIGINT NOT NULL,
    until_ms     BIGINT,
    lifted_at_ms BIGINT,
    lifted_by    TEXT
);
CREATE INDEX freezes_active ON freezes (lifted_at_ms);

-- A service's own timeline: freezes set and lifted, gate reviews and who did what.
CREATE TABLE service_events (
    id BIGSERIAL PRIMARY KEY,
    service TEXT NOT NULL,
    at_ms   BIGINT NOT NULL,
    kind    TEXT NOT NULL,
    actor   TEXT NOT NULL,
    summary TEXT NOT NULL,
    details TEXT NOT NULL
);
CREATE INDEX service_events_by_service ON service_events (service, id);

-- GitHub deployment protection rule reviews: decided at once or held; answered by a worker, so
-- a crash between deciding and answering GitHub answers after the restart.
CREATE TABLE gate_reviews (
    -- `<deployment id>:<environment>`: one review per deployment and environment
    id              TEXT PRIMARY KEY,
    service         TEXT NOT NULL,
    environment     TEXT NOT NULL,
    sha             TEXT,
    callback_url    TEXT NOT NULL,
    installation_id BIGINT NOT NULL,
    -- canarybot's deploy for this deployment, when there is one
    deploy_id       TEXT,
    -- `held`, `approved`, `rejected`
    decision        TEXT NOT NULL,
    comment         TEXT NOT NULL,
    decided_by      TEXT NOT NULL,
    requested_at_ms BIGINT NOT NULL,
    decided_at_ms   BIGINT,
    answered_at_ms  BIGINT,
    attempts        BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT
);
CREATE INDEX gate_reviews_open ON gate_reviews (answered_at_ms, decision);
