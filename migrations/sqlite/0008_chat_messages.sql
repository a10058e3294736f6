-- Issue 21: the messages canarybot posted in canary threads (root, replies), each tied to the
-- event it was posted for, so the timeline links every event to its message.
CREATE TABLE chat_messages (
    -- The outbox item that posted it: one message per item, however many tries it took.
    outbox_id  BIGINT PRIMARY KEY,
    deploy_id  TEXT NOT NULL,
    platform   TEXT NOT NULL,
    -- The event (its seq in the deploy's timeline) the message was posted for.
    seq        BIGINT NOT NULL,
    -- The thread as chat_threads stores it, and the platform's id of the message in it.
    thread_ref TEXT NOT NULL,
    message_id TEXT NOT NULL,
    at_ms      BIGINT NOT NULL
);
CREATE INDEX chat_messages_by_deploy ON chat_messages (deploy_id, seq);

-- Where a platform's web links start when the configuration does not say: what the platform
-- last answered when asked (Slack's auth.test url).
CREATE TABLE chat_sites (
    platform TEXT PRIMARY KEY,
    url      TEXT NOT NULL,
    at_ms    BIGINT NOT NULL
);
