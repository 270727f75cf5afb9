-- Archival (see docs/operations.md, "Archival and retention"): where each
-- session's event log is, and what the retention pass needs to pick the
-- sessions whose log moves to R2.
--
-- active_at: when the session last changed status (written with its
--   summary); with updated_at, its last activity.
-- log_archive_key: the R2 key (BLOBS) of the archive of the session's
--   storage, written before the SessionDO clears its storage. NULL while the
--   log is in the object.
-- log_archived_at: when the sweep finished (the storage is cleared); a key
--   without it is a sweep the next pass finishes.
-- archive_attempted_at: when the pass last tried the session, so that one
--   it cannot sweep goes behind the others.
ALTER TABLE sessions ADD COLUMN active_at TEXT;
ALTER TABLE sessions ADD COLUMN log_archive_key TEXT;
ALTER TABLE sessions ADD COLUMN log_archived_at TEXT;
ALTER TABLE sessions ADD COLUMN archive_attempted_at TEXT;

-- The pass reads only the sessions whose log is still in their object.
CREATE INDEX IF NOT EXISTS sessions_log_in_object
    ON sessions(archive_attempted_at, id) WHERE log_archived_at IS NULL;
