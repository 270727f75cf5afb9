-- Tenants and their API keys. Every other table is scoped by tenant_id.
-- Migrations are forward-only and additive: never edit an applied file.
CREATE TABLE IF NOT EXISTS tenants (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS api_keys (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    name        TEXT,
    -- SHA-256 of the key, hex; the key itself is shown once and never stored.
    key_hash    TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);

CREATE INDEX IF NOT EXISTS api_keys_tenant ON api_keys(tenant_id);
