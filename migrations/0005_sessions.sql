-- The sessions index: one row per session, for listing and filtering. The
-- session itself (record, event log, live status) lives in its SessionDO,
-- which keeps `status` here current.
CREATE TABLE IF NOT EXISTS sessions (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL,
    agent_id       TEXT NOT NULL,
    agent_version  INTEGER NOT NULL,
    environment_id TEXT NOT NULL,
    title          TEXT,
    status         TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    archived_at    TEXT
);

CREATE INDEX IF NOT EXISTS sessions_tenant_id ON sessions(tenant_id, id);
CREATE INDEX IF NOT EXISTS sessions_tenant_agent ON sessions(tenant_id, agent_id, id);
