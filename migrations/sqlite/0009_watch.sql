-- Issue 22: watching after promotion. When the watch of a promoted deploy ends (UTC ms); NULL
-- when it has none or it has ended. Kept by the append that records `watch_started` and
-- `watch_ended`, so the watch loop and the alert hook find open watches without reading
-- timelines.
ALTER TABLE deploys ADD COLUMN watch_until_ms BIGINT;
CREATE INDEX deploys_watched ON deploys (watch_until_ms) WHERE watch_until_ms IS NOT NULL;
