-- Outbound webhooks: the endpoints a tenant registers (each with its sealed
-- signing secret and the event types it subscribes to), and the deliveries
-- queued for them, which the agent worker's WebhookSender posts.

CREATE TABLE webhook_endpoints (
  id TEXT PRIMARY KEY,                   -- whep_…
  tenant_id TEXT NOT NULL,
  url TEXT NOT NULL,
  name TEXT NOT NULL DEFAULT '',
  description TEXT NOT NULL DEFAULT '',
  enabled_events TEXT NOT NULL,          -- JSON array of event types
  state TEXT NOT NULL,                   -- enabled | disabled
  disabled_reason TEXT NOT NULL DEFAULT '',
  secret_key_id TEXT NOT NULL,           -- the keyring key the secret is sealed with
  secret_ciphertext TEXT NOT NULL,       -- the whsec_… secret, sealed (aad: secret_aad)
  consecutive_failures INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant_id, created_at, id);

-- One row per event and endpoint, keyed by what caused it so that an event
-- is never queued twice for the same endpoint.
CREATE TABLE webhook_deliveries (
  id TEXT PRIMARY KEY,                   -- whd_…
  tenant_id TEXT NOT NULL,
  endpoint_id TEXT NOT NULL,
  event_id TEXT NOT NULL,                -- whe_…: the payload's id and webhook-id, the same on every retry
  source_key TEXT NOT NULL,
  event_type TEXT NOT NULL,
  payload TEXT NOT NULL,                 -- the exact JSON body
  status TEXT NOT NULL,                  -- pending | sent | dead
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,      -- unix ms
  last_error TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  sent_at TEXT,
  UNIQUE (endpoint_id, source_key)
);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, status, next_attempt_at);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
