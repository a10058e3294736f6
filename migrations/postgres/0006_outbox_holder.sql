-- Who holds an outbox row while its try runs (host/pidns/pid/start), so that a successor can
-- take over the rows of a process that died at once instead of waiting out the lease.
ALTER TABLE outbox ADD COLUMN holder TEXT;
-- Whether an earlier try may have reached the platform (a crash or a timeout after sending):
-- only then does a retry look for what it posted. A clean refusal (429, 5xx) proves nothing was.
ALTER TABLE outbox ADD COLUMN maybe_sent BIGINT NOT NULL DEFAULT 0;
-- Failed tries that grow the backoff (a 429's Retry-After is that try's wait and does not).
ALTER TABLE outbox ADD COLUMN failures BIGINT NOT NULL DEFAULT 0;
-- Rows tried before this column existed may have reached the platform.
UPDATE outbox SET maybe_sent = 1 WHERE attempts > 0 AND done_at_ms IS NULL;
