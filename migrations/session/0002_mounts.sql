-- What the session's sandbox holds at its mounts, as last synchronised with
-- the platform: uploaded files placed, memory stores filled, and the files
-- under /mnt/session/outputs that became session-scoped files.

-- One row per mount or watched directory.
-- filled: the platform has placed its content at least once.
-- fingerprint: the sandbox's digest of the directory when last synchronised.
CREATE TABLE IF NOT EXISTS mount_roots (
    root         TEXT PRIMARY KEY,
    filled       INTEGER NOT NULL DEFAULT 0,
    fingerprint  TEXT
);

-- One row per file known under a root: its content hash (memory stores),
-- size and modification time (outputs), and the file it became (outputs).
CREATE TABLE IF NOT EXISTS mount_files (
    path         TEXT PRIMARY KEY,
    root         TEXT NOT NULL,
    sha256       TEXT,
    size         INTEGER NOT NULL DEFAULT 0,
    modified_ms  INTEGER NOT NULL DEFAULT 0,
    file_id      TEXT
);
CREATE INDEX IF NOT EXISTS mount_files_root ON mount_files(root);
