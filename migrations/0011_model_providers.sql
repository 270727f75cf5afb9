-- A tenant's model providers: where its model calls go and with which key.
-- The key is sealed like a vault credential's secrets (key_id and
-- ciphertext, AES-256-GCM under the key derived from PLATFORM_ROOT_SECRET,
-- bound to tenant and provider id); only its last four characters are kept
-- in the clear (key_hint). models is a JSON array of model ids.
CREATE TABLE IF NOT EXISTS model_providers (
    id                 TEXT PRIMARY KEY,
    tenant_id          TEXT NOT NULL REFERENCES tenants(id),
    provider_type      TEXT NOT NULL,
    name               TEXT NOT NULL,
    base_url           TEXT NOT NULL,
    models             TEXT NOT NULL DEFAULT '[]',
    is_default         INTEGER NOT NULL DEFAULT 0,
    key_id             TEXT NOT NULL,
    ciphertext         TEXT NOT NULL,
    key_hint           TEXT NOT NULL,
    status             TEXT NOT NULL DEFAULT 'unverified',
    last_error         TEXT,
    last_validated_at  TEXT,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS model_providers_tenant ON model_providers(tenant_id, id);
