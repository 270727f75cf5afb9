-- Self-hosted environments: the keys their workers poll with, their work
-- queue, and the workers seen polling. Timestamps are RFC 3339 UTC with
-- milliseconds, so they compare as text.

-- Environment keys, stored as SHA-256 digests like API keys; the key itself
-- is shown once, at creation.
CREATE TABLE IF NOT EXISTS environment_keys (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    environment_id  TEXT NOT NULL,
    key_hash        TEXT NOT NULL UNIQUE,
    created_at      TEXT NOT NULL,
    last_used_at    TEXT,
    revoked_at      TEXT
);

CREATE INDEX IF NOT EXISTS environment_keys_environment
    ON environment_keys(tenant_id, environment_id, id);

-- One row per work item: a session that needs a worker. A poll hands an
-- item out with one conditional UPDATE (the claim is atomic), minting a
-- sessions token whose digest replaces the previous hand-out's.
CREATE TABLE IF NOT EXISTS work_items (
    id                  TEXT PRIMARY KEY,
    tenant_id           TEXT NOT NULL REFERENCES tenants(id),
    environment_id      TEXT NOT NULL,
    session_id          TEXT NOT NULL,
    -- queued | starting | active | stopping | stopped
    state               TEXT NOT NULL,
    -- The metadata JSON object.
    metadata            TEXT NOT NULL DEFAULT '{}',
    created_at          TEXT NOT NULL,
    -- When the latest poll handed it out; NULL while it waits.
    handed_out_at       TEXT,
    worker_id           TEXT,
    acknowledged_at     TEXT,
    started_at          TEXT,
    latest_heartbeat_at TEXT,
    lease_ttl_seconds   INTEGER,
    -- A held item (starting, active, stopping) whose lease ran out is
    -- reclaimed (or, stopping, stopped) by the next poll.
    lease_expires_at    TEXT,
    stop_requested_at   TEXT,
    stopped_at          TEXT,
    -- SHA-256 of the sessions token of the latest hand-out.
    token_hash          TEXT UNIQUE,
    -- How many times a poll handed it out.
    hand_outs           INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX IF NOT EXISTS work_items_queue
    ON work_items(tenant_id, environment_id, state, created_at);
CREATE INDEX IF NOT EXISTS work_items_environment
    ON work_items(tenant_id, environment_id, id);
-- A session has at most one item that is not stopped.
CREATE UNIQUE INDEX IF NOT EXISTS work_items_live_session
    ON work_items(session_id) WHERE state != 'stopped';

-- The workers (by Anthropic-Worker-ID) that polled an environment, for
-- the queue's `workers_polling`.
CREATE TABLE IF NOT EXISTS work_pollers (
    tenant_id       TEXT NOT NULL,
    environment_id  TEXT NOT NULL,
    worker_id       TEXT NOT NULL,
    polled_at       TEXT NOT NULL,
    PRIMARY KEY (tenant_id, environment_id, worker_id)
);
