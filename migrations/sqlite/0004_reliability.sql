-- Deliveries seen are kept for a window (configurable), then purged by age.
CREATE INDEX deliveries_by_age ON deliveries (at_ms);
-- An outbox row's attempts count the tries started (a try may have reached the platform before
-- a crash); delivered_at answers "how long did it take" for the latency figures.
CREATE INDEX outbox_by_deploy ON outbox (deploy_id, id);
