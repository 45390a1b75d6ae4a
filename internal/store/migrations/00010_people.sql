-- The life of a person's access: a user may be disabled (their sessions
-- end and they cannot log in, while their organisation's credentials keep
-- working), may own their organisation (an owner invites, disables and
-- enables the organisation's other Customer users), and the list of users
-- shows when each last logged in.
--
-- user_links holds one-time links (invitations and password resets): the
-- link's token is 256 random bits, and only its SHA-256 digest is kept,
-- bound to one user and one purpose. A link is used once: used_at is set
-- in the transaction that sets the password.

-- +goose Up
ALTER TABLE users ADD COLUMN disabled_at BIGINT;
ALTER TABLE users ADD COLUMN owner BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN last_login_at BIGINT;

CREATE TABLE user_links (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX user_links_user ON user_links (user_id);

-- +goose Down
DROP TABLE user_links;
ALTER TABLE users DROP COLUMN last_login_at;
ALTER TABLE users DROP COLUMN owner;
ALTER TABLE users DROP COLUMN disabled_at;
