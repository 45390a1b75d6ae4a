-- Single sign-on for the console: OpenID Connect providers an Admin
-- configures. The client secret is sealed under the key-encryption key,
-- never stored in plain text. A provider maps people to an organisation by
-- the domain of their email (domains, space-separated) and to Admins by
-- their exact email (admin_emails, space-separated).

-- +goose Up
CREATE TABLE sso_providers (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    issuer        TEXT NOT NULL,
    client_id     TEXT NOT NULL,
    client_secret TEXT NOT NULL,
    org_id        TEXT REFERENCES orgs (id) ON DELETE CASCADE,
    domains       TEXT NOT NULL DEFAULT '',
    admin_emails  TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL
);

-- +goose Down
DROP TABLE sso_providers;
