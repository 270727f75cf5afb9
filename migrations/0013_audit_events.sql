-- The audit trail: who did what to which object (GET /v1/audit_events).
-- seq numbers the rows in the order they were written, the order the trail
-- is listed in. actor_type is api_key (with the key's id, never the key) or
-- operator; request_id is the response's request-id header. details is a
-- JSON object and, like every other column, never holds a secret.
CREATE TABLE IF NOT EXISTS audit_events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    tenant_id   TEXT NOT NULL,
    actor_type  TEXT NOT NULL,
    api_key_id  TEXT,
    action      TEXT NOT NULL,
    object_id   TEXT,
    request_id  TEXT NOT NULL,
    details     TEXT NOT NULL DEFAULT '{}',
    created_at  TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS audit_events_tenant ON audit_events(tenant_id, seq);
