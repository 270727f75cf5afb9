-- Uploaded files: metadata here, bytes in the FILES R2 bucket under
-- `tenants/<tenant_id>/files/<file_id>`.
CREATE TABLE IF NOT EXISTS files (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    filename    TEXT NOT NULL,
    mime_type   TEXT NOT NULL,
    size_bytes  INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    -- RFC 3339, or NULL when the file does not expire.
    expires_at  TEXT,
    -- `sesn_...` for session outputs, NULL for uploads.
    scope_id    TEXT,
    downloadable INTEGER NOT NULL DEFAULT 1
);

CREATE INDEX IF NOT EXISTS files_tenant ON files(tenant_id, id);
CREATE INDEX IF NOT EXISTS files_tenant_scope ON files(tenant_id, scope_id, id);
