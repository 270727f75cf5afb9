-- API keys record when they were last used (written at most once a minute
-- per key) and may expire: a key past expires_at authenticates nothing.
-- Both are RFC 3339 UTC timestamps with milliseconds, so they compare as
-- text.
ALTER TABLE api_keys ADD COLUMN last_used_at TEXT;
ALTER TABLE api_keys ADD COLUMN expires_at TEXT;
