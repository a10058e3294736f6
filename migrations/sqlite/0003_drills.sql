-- Rollback drills are deploys too, marked so that real deploys' lists and figures leave them out.
ALTER TABLE deploys ADD COLUMN drill BIGINT NOT NULL DEFAULT 0;
CREATE INDEX deploys_drills ON deploys (drill, service, created_at_ms);
