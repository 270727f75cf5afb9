-- Inputs not yet processed, found without folding the log: a read that
-- reaches a restarted session object resumes its work only when it has any.
CREATE INDEX IF NOT EXISTS events_unprocessed ON events(seq) WHERE processed_at IS NULL;
