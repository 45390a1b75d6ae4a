-- Account > Sessions and two-factor authentication.
--
-- A session remembers the browser (User-Agent) and address it began
-- from, for the person's list of sessions, and whether it is only half a
-- login: "second_factor" waits for a code or passkey, "enrol" may only
-- enrol a second factor that policy requires. A pending session reaches
-- nothing else.
--
-- totp keeps one authenticator per user: its secret sealed under the
-- key-encryption key (it must be read back to check codes), whether it is
-- confirmed, and the last time step used, so that no code is accepted
-- twice. recovery_codes keeps the SHA-256 digests of single-use codes.
-- passkeys keeps WebAuthn credentials (public keys, never secrets);
-- webauthn_challenges holds a ceremony's state between its two requests,
-- each used once. two_factor_policy says who must have a second factor:
-- org_id '' is the global setting.

-- +goose Up
ALTER TABLE sessions ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN ip TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN pending TEXT NOT NULL DEFAULT '';

CREATE TABLE totp (
    user_id      TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret       TEXT NOT NULL,
    confirmed_at BIGINT,
    last_step    BIGINT NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL
);

CREATE TABLE recovery_codes (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    digest  TEXT NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (user_id, digest)
);

CREATE TABLE passkeys (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    credential   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX passkeys_user ON passkeys (user_id);

CREATE TABLE webauthn_challenges (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL DEFAULT '',
    data       TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX webauthn_challenges_expiry ON webauthn_challenges (expires_at);

CREATE TABLE two_factor_policy (
    org_id  TEXT PRIMARY KEY,
    require TEXT NOT NULL
);

-- +goose Down
DROP TABLE two_factor_policy;
DROP TABLE webauthn_challenges;
DROP TABLE passkeys;
DROP TABLE recovery_codes;
DROP TABLE totp;
ALTER TABLE sessions DROP COLUMN pending;
ALTER TABLE sessions DROP COLUMN ip;
ALTER TABLE sessions DROP COLUMN user_agent;
