-- Deployment-wide metrics: one row per series (name and canonical label
-- text), incremented by every worker; GET /v1/operator/metrics exposes them.
CREATE TABLE IF NOT EXISTS metrics (
    name    TEXT NOT NULL,
    labels  TEXT NOT NULL,
    value   REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (name, labels)
);

-- The latest error answers, redacted when written, for the diagnostics
-- bundle. Trimmed to the newest rows as new ones arrive.
CREATE TABLE IF NOT EXISTS recent_errors (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          TEXT NOT NULL,
    worker      TEXT NOT NULL,
    request_id  TEXT,
    method      TEXT NOT NULL,
    route       TEXT NOT NULL,
    status      INTEGER NOT NULL,
    error_type  TEXT NOT NULL,
    message     TEXT NOT NULL
);
