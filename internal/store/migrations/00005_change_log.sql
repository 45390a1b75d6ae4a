-- The change log: every change that instances keep in memory (a
-- credential, an organisation, a revoked token, a signing key) appends a
-- row here, in the transaction of the change, at the position the one row
-- of change_counter gives it. Instances follow the log by position, so
-- they learn of every change in the order the database committed them,
-- whatever the clocks of the machines that made them say.
--
-- Taking the next position updates change_counter's row, which holds that
-- row's lock until commit: transactions that change something commit one
-- after the other, in the order of their positions, and a reader that
-- has seen position n has seen every position before it.

-- +goose Up
CREATE TABLE change_counter (
    id  BIGINT PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL
);
INSERT INTO change_counter (id, seq) VALUES (1, 0);

CREATE TABLE changes (
    seq  BIGINT PRIMARY KEY,
    kind TEXT NOT NULL,
    ref  TEXT NOT NULL,
    at   BIGINT NOT NULL
);

ALTER TABLE credentials ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orgs ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE signing_keys ADD COLUMN retired_at BIGINT;
ALTER TABLE signing_keys ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
-- credentials_updated and orgs_updated stay while instances of the
-- release before, which poll by updated_at, may still run beside this one.

-- +goose Down
ALTER TABLE signing_keys DROP COLUMN version;
ALTER TABLE signing_keys DROP COLUMN retired_at;
ALTER TABLE orgs DROP COLUMN version;
ALTER TABLE credentials DROP COLUMN version;
DROP TABLE changes;
DROP TABLE change_counter;
