-- Work several replicas share is claimed, not broadcast: a lease names the work (`ticker`,
-- `check:<deploy>`), who holds it and until when; an expired lease is free for anyone.
CREATE TABLE leases (
    name     TEXT PRIMARY KEY,
    holder   TEXT NOT NULL,
    until_ms BIGINT NOT NULL
);
