-- Vaults and their credentials. A credential's public JSON is in `snapshot`;
-- its write-only secrets are sealed (AES-256-GCM, key derived from
-- PLATFORM_ROOT_SECRET) in `ciphertext`, with the sealing key's id in
-- `key_id` so the root secret can be rotated. Archiving purges both.
CREATE TABLE IF NOT EXISTS vaults (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    archived_at TEXT,
    -- The Vault JSON.
    snapshot    TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS vaults_tenant ON vaults(tenant_id, id);

CREATE TABLE IF NOT EXISTS vault_credentials (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    vault_id    TEXT NOT NULL REFERENCES vaults(id) ON DELETE CASCADE,
    -- `mcp:<mcp_server_url>` or `env:<secret_name>`: unique among a vault's
    -- active credentials.
    unique_key  TEXT NOT NULL,
    archived_at TEXT,
    -- The Credential JSON (never a secret).
    snapshot    TEXT NOT NULL,
    -- The sealed secrets; NULL once archived.
    key_id      TEXT,
    ciphertext  TEXT
);

CREATE UNIQUE INDEX IF NOT EXISTS vault_credentials_active_key
    ON vault_credentials(tenant_id, vault_id, unique_key) WHERE archived_at IS NULL;
CREATE INDEX IF NOT EXISTS vault_credentials_vault ON vault_credentials(tenant_id, vault_id, id);
CREATE INDEX IF NOT EXISTS vault_credentials_key ON vault_credentials(key_id);
