-- The usage ledger: what each tenant's sessions spent, per UTC day, agent
-- and model. Written by each session's SessionDO from its event log, in the
-- background of its turns (crates/worker-agent/src/session/ledger.rs).

-- One row per contribution: a model request, named by the id of its
-- span.model_request_end event, or a tool call, named by the id of its
-- result event. The id makes a replayed write a no-op (INSERT ... ON
-- CONFLICT DO NOTHING). counted becomes 1 in the same batch that adds the
-- row to usage_daily, so a contribution is added there once.
CREATE TABLE IF NOT EXISTS usage_contributions (
    id                           TEXT PRIMARY KEY,
    tenant_id                    TEXT NOT NULL,
    session_id                   TEXT NOT NULL,
    agent_id                     TEXT NOT NULL,
    model                        TEXT NOT NULL,
    -- UTC day of the event, YYYY-MM-DD, and its RFC 3339 time.
    day                          TEXT NOT NULL,
    at                           TEXT NOT NULL,
    input_tokens                 INTEGER NOT NULL DEFAULT 0,
    output_tokens                INTEGER NOT NULL DEFAULT 0,
    cache_read_input_tokens      INTEGER NOT NULL DEFAULT 0,
    cache_creation_input_tokens  INTEGER NOT NULL DEFAULT 0,
    model_requests               INTEGER NOT NULL DEFAULT 0,
    tool_calls                   INTEGER NOT NULL DEFAULT 0,
    sandbox_ms                   INTEGER NOT NULL DEFAULT 0,
    counted                      INTEGER NOT NULL DEFAULT 0
);

-- The sums of the contributions, which GET /v1/usage reads.
CREATE TABLE IF NOT EXISTS usage_daily (
    tenant_id                    TEXT NOT NULL,
    day                          TEXT NOT NULL,
    agent_id                     TEXT NOT NULL,
    model                        TEXT NOT NULL,
    input_tokens                 INTEGER NOT NULL DEFAULT 0,
    output_tokens                INTEGER NOT NULL DEFAULT 0,
    cache_read_input_tokens      INTEGER NOT NULL DEFAULT 0,
    cache_creation_input_tokens  INTEGER NOT NULL DEFAULT 0,
    model_requests               INTEGER NOT NULL DEFAULT 0,
    tool_calls                   INTEGER NOT NULL DEFAULT 0,
    sandbox_ms                   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, day, agent_id, model)
);
