-- A credential's last use rides on the hourly usage row that the usage
-- flush writes anyway, instead of a second write to the credentials table.
-- The credentials columns last_used_at and last_used_ip stay: they hold the
-- last use of usage rows that retention deleted, and what older versions
-- stored there. Nothing is copied up; going down copies the latest last use
-- back to the credentials, so that an older binary still shows it.

-- +goose Up
ALTER TABLE usage_hourly ADD COLUMN last_used_at BIGINT;
ALTER TABLE usage_hourly ADD COLUMN last_used_ip TEXT NOT NULL DEFAULT '';

-- +goose Down
UPDATE credentials SET
    last_used_at = (SELECT u.last_used_at FROM usage_hourly u
        WHERE u.client_id = credentials.client_id AND u.last_used_at IS NOT NULL
        ORDER BY u.last_used_at DESC LIMIT 1),
    last_used_ip = (SELECT u.last_used_ip FROM usage_hourly u
        WHERE u.client_id = credentials.client_id AND u.last_used_at IS NOT NULL
        ORDER BY u.last_used_at DESC LIMIT 1)
WHERE EXISTS (SELECT 1 FROM usage_hourly u
    WHERE u.client_id = credentials.client_id AND u.last_used_at IS NOT NULL
    AND (credentials.last_used_at IS NULL OR u.last_used_at > credentials.last_used_at));
ALTER TABLE usage_hourly DROP COLUMN last_used_ip;
ALTER TABLE usage_hourly DROP COLUMN last_used_at;
