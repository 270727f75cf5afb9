-- Deployments: one of a tenant's agents (a pinned version) bound to an
-- environment, vaults, resources and the events each session starts with,
-- run by hand or on a cron schedule; and the append-only record of each run.

CREATE TABLE deployments (
  id TEXT PRIMARY KEY,                   -- depl_…
  tenant_id TEXT NOT NULL,
  name TEXT NOT NULL,
  description TEXT,
  agent_id TEXT NOT NULL,
  agent_version INTEGER NOT NULL,
  environment_id TEXT NOT NULL,
  vault_ids TEXT NOT NULL DEFAULT '[]',
  resources TEXT NOT NULL DEFAULT '[]',  -- JSON, as the API echoes them
  initial_events TEXT NOT NULL,          -- JSON
  metadata TEXT NOT NULL DEFAULT '{}',
  schedule_expression TEXT,              -- 5-field cron; NULL: manual runs only
  schedule_timezone TEXT,                -- IANA name
  next_run_at INTEGER,                   -- unix ms: the next scheduled time not yet fired;
                                         -- NULL when none is due (no schedule, paused, archived)
  last_run_at TEXT,                      -- when the latest scheduled run started
  paused_reason TEXT,                    -- JSON; NULL while active
  archived_at TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX deployments_tenant ON deployments (tenant_id, id);
-- The integrations worker's per-minute backstop looks for overdue ones.
CREATE INDEX deployments_due ON deployments (next_run_at) WHERE next_run_at IS NOT NULL;

CREATE TABLE deployment_runs (
  id TEXT PRIMARY KEY,                   -- drun_…
  tenant_id TEXT NOT NULL,
  deployment_id TEXT NOT NULL,
  agent TEXT NOT NULL,                   -- JSON {type, id, version} at fire time
  session_id TEXT,                       -- set on success
  error TEXT,                            -- JSON {type, message} on failure
  trigger_type TEXT NOT NULL,            -- schedule | manual
  scheduled_at INTEGER,                  -- unix ms of the scheduled time; NULL for manual runs
  created_at TEXT NOT NULL
);
-- At most one run per scheduled time (manual runs, NULL, are not limited).
CREATE UNIQUE INDEX deployment_runs_scheduled ON deployment_runs (deployment_id, scheduled_at);
CREATE INDEX deployment_runs_tenant ON deployment_runs (tenant_id, id);

-- Sessions a deployment created, for `GET /v1/sessions?deployment_id=`.
ALTER TABLE sessions ADD COLUMN deployment_id TEXT;
CREATE INDEX sessions_deployment ON sessions (tenant_id, deployment_id, id) WHERE deployment_id IS NOT NULL;
