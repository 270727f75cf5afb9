-- The sessions index serves lists on its own: each row holds the session's
-- record (as its SessionDO keeps it: agent snapshot, resources, metadata,
-- title, archive time) and the summary of its log (status, usage, running
-- time), both JSON and both written by the SessionDO as they change. A row
-- written before these columns existed has them NULL and is listed by asking
-- its SessionDO.
ALTER TABLE sessions ADD COLUMN record TEXT;
ALTER TABLE sessions ADD COLUMN summary TEXT;
