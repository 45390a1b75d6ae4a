package store

import (
	"context"
	"database/sql"
	"fmt"
)

// ScanCredentials calls fn for every credential that is not revoked, in
// one pass over the table, stopping at fn's first error. Instances read
// them into memory at start this way, so it reads only what the token hot
// path needs: every field but CreatedAt, CreatedBy, LastUsedAt, LastUsedIP,
// RevokedAt and RevokedBy, which it leaves zero.
func (s *SQL) ScanCredentials(ctx context.Context, fn func(Credential) error) error {
	rows, err := s.conn().QueryContext(ctx, `SELECT client_id, org_id, name, secret_hash, scopes, expires_at, updated_at,
		previous_secret_hash, previous_secret_expires_at, allowed_cidrs, version FROM credentials WHERE revoked_at IS NULL`)
	if err != nil {
		return mapErr("scan credentials", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			c                         Credential
			scopes, cidrs             string
			expires, upd, prevExpires sql.NullInt64
		)
		if err := rows.Scan(&c.ClientID, &c.OrgID, &c.Name, &c.SecretHash, &scopes, &expires, &upd,
			&c.PreviousSecretHash, &prevExpires, &cidrs, &c.Version); err != nil {
			return mapErr("scan credentials", err)
		}
		c.Scopes, c.AllowedCIDRs = splitScopes(scopes), splitScopes(cidrs)
		c.ExpiresAt, c.UpdatedAt, c.PreviousSecretExpiresAt = fromMicros(expires), fromMicros(upd), fromMicros(prevExpires)
		if err := fn(c); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: scan credentials: %w", err)
	}
	return nil
}
