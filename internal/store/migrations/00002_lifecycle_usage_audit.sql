-- Credential lifecycle (secret roll, IP allow-lists), per-organisation
-- limits, usage counters and the audit trail.

-- +goose Up
ALTER TABLE orgs ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orgs ADD COLUMN token_rate_limit BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orgs ADD COLUMN api_rate_limit BIGINT NOT NULL DEFAULT 0;
CREATE INDEX orgs_updated ON orgs (updated_at);

ALTER TABLE credentials ADD COLUMN previous_secret_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE credentials ADD COLUMN previous_secret_expires_at BIGINT;
ALTER TABLE credentials ADD COLUMN allowed_cidrs TEXT NOT NULL DEFAULT '';
ALTER TABLE credentials ADD COLUMN last_used_ip TEXT NOT NULL DEFAULT '';

CREATE TABLE usage_hourly (
    client_id      TEXT NOT NULL,
    hour           BIGINT NOT NULL,
    org_id         TEXT NOT NULL,
    tokens_issued  BIGINT NOT NULL DEFAULT 0,
    tokens_refused BIGINT NOT NULL DEFAULT 0,
    api_calls      BIGINT NOT NULL DEFAULT 0,
    api_refused    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (client_id, hour)
);
CREATE INDEX usage_hourly_org ON usage_hourly (org_id, hour);
CREATE INDEX usage_hourly_hour ON usage_hourly (hour);

CREATE TABLE audit_events (
    id          TEXT PRIMARY KEY,
    at          BIGINT NOT NULL,
    org_id      TEXT NOT NULL DEFAULT '',
    actor_kind  TEXT NOT NULL DEFAULT '',
    actor_id    TEXT NOT NULL DEFAULT '',
    actor_label TEXT NOT NULL DEFAULT '',
    action      TEXT NOT NULL,
    target      TEXT NOT NULL DEFAULT '',
    ip          TEXT NOT NULL DEFAULT '',
    user_agent  TEXT NOT NULL DEFAULT '',
    detail      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_org_at ON audit_events (org_id, at);
CREATE INDEX audit_events_at ON audit_events (at);

-- +goose Down
DROP TABLE audit_events;
DROP TABLE usage_hourly;
DROP INDEX orgs_updated;
ALTER TABLE credentials DROP COLUMN last_used_ip;
ALTER TABLE credentials DROP COLUMN allowed_cidrs;
ALTER TABLE credentials DROP COLUMN previous_secret_expires_at;
ALTER TABLE credentials DROP COLUMN previous_secret_hash;
ALTER TABLE orgs DROP COLUMN api_rate_limit;
ALTER TABLE orgs DROP COLUMN token_rate_limit;
ALTER TABLE orgs DROP COLUMN updated_at;
