-- Leaked secrets reported to POST /leaks and POST /leaks/github are found
-- by their digest, the current one or the previous one of a roll's
-- overlap: an index on each. Each organisation chooses what a reported
-- leak does to its credential: 'revoke' (the default) or 'roll', a new
-- secret nobody knows and the leaked one stopped at once.

-- +goose Up
ALTER TABLE orgs ADD COLUMN leak_action TEXT NOT NULL DEFAULT 'revoke';
CREATE INDEX credentials_secret_hash ON credentials (secret_hash);
CREATE INDEX credentials_previous_secret_hash ON credentials (previous_secret_hash) WHERE previous_secret_hash <> '';

-- +goose Down
DROP INDEX credentials_previous_secret_hash;
DROP INDEX credentials_secret_hash;
ALTER TABLE orgs DROP COLUMN leak_action;
