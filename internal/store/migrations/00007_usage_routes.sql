-- Calls checked for the operator's own API (GET /edge/check, and the calls
-- local verifiers report), counted per hour, credential, route and
-- outcome: "accepted", or the reason of a refusal. A refusal of a call
-- whose credential could not be identified (no token, a token that is not
-- Sapient's) is counted for its route with an empty client_id and org_id.

-- +goose Up
CREATE TABLE usage_routes (
    hour      BIGINT NOT NULL,
    client_id TEXT NOT NULL,
    org_id    TEXT NOT NULL,
    route     TEXT NOT NULL,
    outcome   TEXT NOT NULL,
    calls     BIGINT NOT NULL,
    PRIMARY KEY (hour, client_id, route, outcome)
);
CREATE INDEX usage_routes_org ON usage_routes (org_id, hour);

-- +goose Down
DROP TABLE usage_routes;
