-- Agents and every version of them. `agents` holds the latest snapshot;
-- `agent_versions` holds one full JSON snapshot per version (1, 2, …).
CREATE TABLE IF NOT EXISTS agents (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    version         INTEGER NOT NULL,
    -- Milliseconds since the epoch, for created_at filters.
    created_at_ms   INTEGER NOT NULL,
    archived_at     TEXT,
    -- The latest version's Agent JSON (archived_at is overlaid on read).
    snapshot        TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS agents_tenant ON agents(tenant_id, id);

CREATE TABLE IF NOT EXISTS agent_versions (
    agent_id    TEXT NOT NULL REFERENCES agents(id),
    version     INTEGER NOT NULL,
    tenant_id   TEXT NOT NULL,
    snapshot    TEXT NOT NULL,
    PRIMARY KEY (agent_id, version)
);
