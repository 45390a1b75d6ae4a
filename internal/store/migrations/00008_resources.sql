-- The operator's APIs that tokens may be issued for (RFC 8707): a token
-- request naming one of them as its resource gets it as the token's aud.

-- +goose Up
CREATE TABLE resources (
    uri         TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL
);

-- +goose Down
DROP TABLE resources;
