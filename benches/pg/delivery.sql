-- The statements canarybot sends PostgreSQL for one signed `started` delivery (server/hooks.rs,
-- engine.rs, store/mod.rs, chat/outbox.rs), with values of the same size. Run it with
-- PGOPTIONS="-c search_path=ingest_bound" (see docs/src/benchmarks.md). (Ids use / not : here: pgbench would
-- read `:production` inside a string as a variable.) One transaction of this
-- script = one delivery; pgbench's tps is then the most deliveries/s PostgreSQL alone can take.
\set n random(1, 2000000000)
SELECT status, response FROM deliveries WHERE source = 'deploy' AND delivery_id = 'd-' || (:n)::text;
BEGIN;
INSERT INTO deploys (id, service, environment, version, state, last_seq, created_at_ms, updated_at_ms, drill) VALUES ('checkout/production/' || (:n)::text, 'checkout', 'production', '2.' || (:n)::text || '.0', 'canary', 2, 1764230000000, 1764230000000, 0) ON CONFLICT (id) DO NOTHING;
INSERT INTO events (deploy_id, seq, at_ms, kind, actor, source, summary, details) VALUES ('checkout/production/' || (:n)::text, 1, 1764230000000, 'deploy_started', 'ci', 'deploy-webhook', 'checkout 2.0 started in production', repeat('x', 300)), ('checkout/production/' || (:n)::text, 2, 1764230000000, 'criteria_locked', 'canarybot', 'deploy-webhook', 'criteria locked: 5xx ratio, p99 latency (hash 0123456789ab)', repeat('y', 900));
INSERT INTO outbox (deploy_id, target, payload, created_at_ms, next_at_ms) VALUES ('checkout/production/' || (:n)::text, 'chat/console', repeat('z', 1200), 1764230000000, 1764230000000);
COMMIT;
INSERT INTO deliveries (source, delivery_id, status, response, at_ms) VALUES ('deploy', 'd-' || (:n)::text, 202, '{"deploy_id": "checkout/production/1", "state": "canary", "created": true}', 1764230000000) ON CONFLICT (source, delivery_id) DO UPDATE SET status = excluded.status, response = excluded.response WHERE deliveries.status = 0;
UPDATE outbox SET next_at_ms = 1764230030000, attempts = attempts + 1 WHERE deploy_id = 'checkout/production/' || (:n)::text AND next_at_ms = 1764230000000 AND done_at_ms IS NULL AND dead = 0;
INSERT INTO chat_threads (deploy_id, platform, thread_ref) VALUES ('checkout/production/' || (:n)::text, 'console', 'console/' || (:n)::text) ON CONFLICT (deploy_id, platform) DO UPDATE SET thread_ref = excluded.thread_ref;
UPDATE outbox SET done_at_ms = 1764230000100, last_error = NULL WHERE deploy_id = 'checkout/production/' || (:n)::text;
