-- The schema is written once for both backends: TEXT and BIGINT only,
-- times as Unix microseconds, partial and expression indexes that SQLite
-- and PostgreSQL both understand.

-- +goose Up
CREATE TABLE orgs (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    scopes     TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX orgs_name ON orgs (lower(name));

CREATE TABLE users (
    id                  TEXT PRIMARY KEY,
    email               TEXT NOT NULL,
    password_hash       TEXT NOT NULL,
    role                TEXT NOT NULL CHECK (role IN ('admin', 'customer')),
    org_id              TEXT REFERENCES orgs (id),
    created_at          BIGINT NOT NULL,
    password_changed_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX users_email ON users (lower(email));

CREATE TABLE scopes (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    builtin     BIGINT NOT NULL DEFAULT 0,
    admin_only  BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL
);

CREATE TABLE credentials (
    client_id    TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES orgs (id),
    name         TEXT NOT NULL,
    secret_hash  TEXT NOT NULL,
    scopes       TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    created_by   TEXT NOT NULL DEFAULT '',
    last_used_at BIGINT,
    revoked_at   BIGINT,
    revoked_by   TEXT NOT NULL DEFAULT '',
    expires_at   BIGINT,
    updated_at   BIGINT NOT NULL
);
CREATE UNIQUE INDEX credentials_active_name ON credentials (org_id, lower(name)) WHERE revoked_at IS NULL;
CREATE INDEX credentials_org ON credentials (org_id, created_at);
CREATE INDEX credentials_updated ON credentials (updated_at);

CREATE TABLE revoked_tokens (
    jti        TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT NOT NULL
);
CREATE INDEX revoked_tokens_revoked ON revoked_tokens (revoked_at);
CREATE INDEX revoked_tokens_expires ON revoked_tokens (expires_at);

CREATE TABLE signing_keys (
    kid          TEXT PRIMARY KEY,
    algorithm    TEXT NOT NULL,
    private_key  TEXT NOT NULL,
    public_key   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    activates_at BIGINT NOT NULL
);

CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

-- +goose Down
DROP TABLE sessions;
DROP TABLE signing_keys;
DROP TABLE revoked_tokens;
DROP TABLE credentials;
DROP TABLE scopes;
DROP TABLE users;
DROP TABLE orgs;
