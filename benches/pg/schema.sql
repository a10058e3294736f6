-- The tables one ingested deploy touches, as in migrations/postgres (same keys and indexes).
DROP SCHEMA IF EXISTS ingest_bound CASCADE;
CREATE SCHEMA ingest_bound;
SET search_path = ingest_bound;
CREATE TABLE deploys (id TEXT PRIMARY KEY, service TEXT NOT NULL, environment TEXT NOT NULL, version TEXT NOT NULL,
  state TEXT NOT NULL, last_seq BIGINT NOT NULL, created_at_ms BIGINT NOT NULL, updated_at_ms BIGINT NOT NULL, drill BIGINT NOT NULL DEFAULT 0);
CREATE INDEX deploys_by_service ON deploys (service, created_at_ms);
CREATE INDEX deploys_by_state ON deploys (state);
CREATE INDEX deploys_drills ON deploys (drill, service, created_at_ms);
CREATE TABLE events (deploy_id TEXT NOT NULL, seq BIGINT NOT NULL, at_ms BIGINT NOT NULL, kind TEXT NOT NULL, actor TEXT NOT NULL,
  source TEXT NOT NULL, summary TEXT NOT NULL, details TEXT NOT NULL, PRIMARY KEY (deploy_id, seq));
CREATE TABLE outbox (id BIGSERIAL PRIMARY KEY, deploy_id TEXT NOT NULL, target TEXT NOT NULL, payload TEXT NOT NULL,
  attempts BIGINT NOT NULL DEFAULT 0, next_at_ms BIGINT NOT NULL, created_at_ms BIGINT NOT NULL, done_at_ms BIGINT, dead BIGINT NOT NULL DEFAULT 0, last_error TEXT);
CREATE INDEX outbox_pending ON outbox (target, done_at_ms, dead, id);
CREATE INDEX outbox_by_deploy ON outbox (deploy_id, id);
CREATE TABLE deliveries (source TEXT NOT NULL, delivery_id TEXT NOT NULL, status BIGINT NOT NULL, response TEXT NOT NULL, at_ms BIGINT NOT NULL,
  PRIMARY KEY (source, delivery_id));
CREATE INDEX deliveries_by_age ON deliveries (at_ms);
CREATE TABLE chat_threads (deploy_id TEXT NOT NULL, platform TEXT NOT NULL, thread_ref TEXT NOT NULL, PRIMARY KEY (deploy_id, platform));
CREATE INDEX chat_threads_by_ref ON chat_threads (platform, thread_ref);
