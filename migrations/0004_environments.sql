-- Environments: sandbox templates. Names are unique per tenant among
-- environments that are not deleted (deleting frees the name).
CREATE TABLE IF NOT EXISTS environments (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    name        TEXT NOT NULL,
    archived_at TEXT,
    -- The Environment JSON.
    snapshot    TEXT NOT NULL
);

CREATE UNIQUE INDEX IF NOT EXISTS environments_tenant_name ON environments(tenant_id, name);
CREATE INDEX IF NOT EXISTS environments_tenant ON environments(tenant_id, id);
