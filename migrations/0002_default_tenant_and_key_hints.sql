-- The operator's bootstrap key (API_KEY) acts for tenant 'default'.
INSERT OR IGNORE INTO tenants (id, name, created_at)
VALUES ('default', 'default', '1970-01-01T00:00:00.000Z');

-- The last four characters of a key, shown in listings to tell keys apart.
ALTER TABLE api_keys ADD COLUMN key_hint TEXT;
