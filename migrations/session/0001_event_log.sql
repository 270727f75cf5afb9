-- One SessionDO's storage: its event log and its session record.
-- Applied in code by the SessionDO (crates/worker-agent/src/session/schema.rs),
-- in order, tracked in schema_version. Forward-only: never edit an applied file.

-- The event log. seq strictly increases; body is the event JSON without
-- processed_at (kept in its own column so marking a queued event processed
-- is one UPDATE). Bodies too large for a row live in R2 (spilled = 1, body =
-- the object key).
CREATE TABLE IF NOT EXISTS events (
    seq           INTEGER PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    type          TEXT NOT NULL,
    processed_at  INTEGER,
    spilled       INTEGER NOT NULL DEFAULT 0,
    body          TEXT NOT NULL
);

-- Key/value session record (the session's tenant, agent snapshot,
-- environment, title, metadata, resources, vault ids, timestamps).
CREATE TABLE IF NOT EXISTS meta (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
