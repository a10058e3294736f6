-- canarybot schema (SQLite). Times are UTC milliseconds since the epoch.
CREATE TABLE deploys (
    id            TEXT PRIMARY KEY,
    service       TEXT NOT NULL,
    environment   TEXT NOT NULL,
    version       TEXT NOT NULL,
    state         TEXT NOT NULL,
    last_seq      BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
CREATE INDEX deploys_by_service ON deploys (service, created_at_ms);
CREATE INDEX deploys_by_state ON deploys (state);

-- The timeline: append-only; (deploy_id, seq) is the optimistic-concurrency guard.
CREATE TABLE events (
    deploy_id       TEXT NOT NULL REFERENCES deploys (id),
    seq             BIGINT NOT NULL,
    at_ms           BIGINT NOT NULL,
    kind            TEXT NOT NULL,
    actor           TEXT NOT NULL,
    source          TEXT NOT NULL,
    summary         TEXT NOT NULL,
    details         TEXT NOT NULL,
    idempotency_key TEXT UNIQUE,
    PRIMARY KEY (deploy_id, seq)
);

-- Projection of vote_cast events, for queries.
CREATE TABLE votes (
    deploy_id TEXT NOT NULL,
    seq       BIGINT NOT NULL,
    voter     TEXT NOT NULL,
    choice    TEXT NOT NULL,
    reason    TEXT,
    at_ms     BIGINT NOT NULL,
    PRIMARY KEY (deploy_id, seq)
);

-- Every metric value received, for charts.
CREATE TABLE samples (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    deploy_id TEXT NOT NULL,
    criterion TEXT NOT NULL,
    at_ms     BIGINT NOT NULL,
    canary    DOUBLE PRECISION,
    baseline  DOUBLE PRECISION
);
CREATE INDEX samples_by_deploy ON samples (deploy_id, criterion, at_ms);

-- Effects to deliver (chat messages, executor calls), written with the events that cause them.
CREATE TABLE outbox (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    deploy_id     TEXT NOT NULL,
    target        TEXT NOT NULL,
    payload       TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    attempts      BIGINT NOT NULL DEFAULT 0,
    next_at_ms    BIGINT NOT NULL,
    done_at_ms    BIGINT,
    dead          BIGINT NOT NULL DEFAULT 0,
    last_error    TEXT
);
CREATE INDEX outbox_pending ON outbox (target, done_at_ms, dead, id);

-- Webhook deliveries seen, with the first answer, for redelivery.
CREATE TABLE deliveries (
    source      TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    status      BIGINT NOT NULL,
    response    TEXT NOT NULL,
    at_ms       BIGINT NOT NULL,
    PRIMARY KEY (source, delivery_id)
);

-- Where each deploy's thread lives on each chat platform.
CREATE TABLE chat_threads (
    deploy_id  TEXT NOT NULL,
    platform   TEXT NOT NULL,
    thread_ref TEXT NOT NULL,
    PRIMARY KEY (deploy_id, platform)
);
