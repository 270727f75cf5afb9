-- Memory stores, memories and their versions. Content is stored in D1
-- (at most 102,400 bytes per memory, well inside D1's row limit).
CREATE TABLE IF NOT EXISTS memory_stores (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    created_at  TEXT NOT NULL,
    archived_at TEXT,
    -- The MemoryStore JSON.
    snapshot    TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS memory_stores_tenant ON memory_stores(tenant_id, id);

CREATE TABLE IF NOT EXISTS memories (
    id                 TEXT PRIMARY KEY,
    tenant_id          TEXT NOT NULL REFERENCES tenants(id),
    store_id           TEXT NOT NULL REFERENCES memory_stores(id) ON DELETE CASCADE,
    path               TEXT NOT NULL,
    content            TEXT NOT NULL,
    content_sha256     TEXT NOT NULL,
    content_size_bytes INTEGER NOT NULL,
    memory_version_id  TEXT NOT NULL,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
);

CREATE UNIQUE INDEX IF NOT EXISTS memories_store_path ON memories(tenant_id, store_id, path);

CREATE TABLE IF NOT EXISTS memory_versions (
    id                 TEXT PRIMARY KEY,
    tenant_id          TEXT NOT NULL REFERENCES tenants(id),
    store_id           TEXT NOT NULL REFERENCES memory_stores(id) ON DELETE CASCADE,
    memory_id          TEXT NOT NULL,
    operation          TEXT NOT NULL,
    path               TEXT,
    content            TEXT,
    content_sha256     TEXT,
    content_size_bytes INTEGER,
    created_at         TEXT NOT NULL,
    -- `apikey_...` of the writer, or NULL for the operator key.
    api_key_id         TEXT,
    session_id         TEXT,
    redacted_at        TEXT,
    redacted_by_api_key_id TEXT
);

CREATE INDEX IF NOT EXISTS memory_versions_store ON memory_versions(tenant_id, store_id, id);
CREATE INDEX IF NOT EXISTS memory_versions_memory ON memory_versions(tenant_id, store_id, memory_id, id);
