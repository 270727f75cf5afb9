-- Integrations: a provider workspace (Slack team, Linear organization,
-- GitHub repository) bound to a tenant's agent, and the outbox of replies
-- the integrations worker posts back to the provider.

CREATE TABLE integrations (
  id TEXT PRIMARY KEY,               -- intg_…
  tenant_id TEXT NOT NULL,
  provider TEXT NOT NULL,            -- slack | linear | github
  external_id TEXT NOT NULL,         -- team id, organization id, owner/name
  token_key_id TEXT NOT NULL,        -- the keyring key the token is sealed with
  token_ciphertext TEXT NOT NULL,    -- the access token, sealed (aad: token_aad)
  agent_id TEXT NOT NULL,
  environment_id TEXT NOT NULL,
  vault_ids TEXT NOT NULL DEFAULT '[]',
  bot_login TEXT,
  name TEXT,
  metadata TEXT NOT NULL DEFAULT '{}',
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
-- One install per provider workspace across the deployment.
CREATE UNIQUE INDEX integrations_provider_external ON integrations (provider, external_id);
CREATE INDEX integrations_tenant ON integrations (tenant_id, created_at, id);

-- The outbox: one row per reply, keyed deterministically so that a reply
-- is never queued twice.
CREATE TABLE integration_deliveries (
  id TEXT PRIMARY KEY,               -- idlv_…
  tenant_id TEXT NOT NULL,
  integration_id TEXT NOT NULL,
  provider TEXT NOT NULL,
  thread_key TEXT NOT NULL,          -- the conversation (and its Durable Object)
  reply_key TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL,                -- thought | response | error
  target TEXT NOT NULL,              -- the thread, JSON
  body TEXT NOT NULL,                -- the text posted
  session_id TEXT,
  status TEXT NOT NULL,              -- pending | sent | dead
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,  -- unix ms
  last_error TEXT,
  provider_ref TEXT,                 -- Slack ts, GitHub comment id, Linear activity id
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  sent_at TEXT
);
CREATE INDEX integration_deliveries_tenant ON integration_deliveries (tenant_id, status, created_at, id);
CREATE INDEX integration_deliveries_thread ON integration_deliveries (thread_key, status, next_attempt_at);
