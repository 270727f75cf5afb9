-- The session's MCP tool calls, journalled so that none is sent twice: a
-- row is written before the call leaves (the object's output gate holds the
-- request until the write is durable) and its result when it comes back.
-- A row without a result after a restart is a call whose outcome is unknown.
CREATE TABLE IF NOT EXISTS mcp_calls (
    tool_use_id  TEXT PRIMARY KEY,
    server       TEXT NOT NULL,
    started_at   INTEGER NOT NULL,
    result       TEXT
);
