-- Webhook endpoints, their deliveries and the marks that make an event
-- sent once (a credential's expiry warnings, its rate-limit event of an
-- hour). The queue that delivers them is River's, with its own tables and
-- migrations (see Migrate).
--
-- An endpoint's signing secret must be readable to sign with, so it is
-- kept sealed under the key-encryption key (secret_sealed), never plain.
-- org_id is empty for an Admin-level endpoint.

-- +goose Up
CREATE TABLE webhook_endpoints (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL DEFAULT '',
    url             TEXT NOT NULL,
    events          TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    secret_sealed   TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    created_by      TEXT NOT NULL DEFAULT '',
    updated_at      BIGINT NOT NULL,
    disabled_at     BIGINT,
    disabled_reason TEXT NOT NULL DEFAULT '',
    failing_since   BIGINT
);
CREATE INDEX webhook_endpoints_org ON webhook_endpoints (org_id, created_at);

CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    endpoint_id     TEXT NOT NULL,
    org_id          TEXT NOT NULL DEFAULT '',
    event_type      TEXT NOT NULL,
    payload         TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    status          TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    response_code   BIGINT NOT NULL DEFAULT 0,
    latency_ms      BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    last_attempt_at BIGINT
);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, created_at);

CREATE TABLE webhook_marks (
    mark TEXT PRIMARY KEY,
    at   BIGINT NOT NULL
);

-- +goose Down
DROP TABLE webhook_marks;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
