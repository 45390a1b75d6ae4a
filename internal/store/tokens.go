package store

import (
	"context"
	"database/sql"
	"time"
)

// RevokeToken records a revoked token, and the change in the change log;
// a repeat is not an error.
func (s *SQL) RevokeToken(ctx context.Context, t RevokedToken) error {
	return s.inTx(ctx, func(tx queryer) error {
		if _, err := s.recordChange(ctx, tx, ChangeToken, t.JTI); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO revoked_tokens (jti, client_id, expires_at, revoked_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (jti) DO NOTHING`), t.JTI, t.ClientID, t.ExpiresAt.UnixMicro(), t.RevokedAt.UnixMicro())
		return mapErr("revoke token", err)
	})
}

const revokedTokenColumns = `jti, client_id, expires_at, revoked_at`

func scanRevokedToken(row interface{ Scan(...any) error }) (RevokedToken, error) {
	var (
		t            RevokedToken
		exp, revoked sql.NullInt64
	)
	err := row.Scan(&t.JTI, &t.ClientID, &exp, &revoked)
	t.ExpiresAt, t.RevokedAt = fromMicros(exp), fromMicros(revoked)
	return t, err
}

// GetRevokedToken finds a revoked token by its ID.
func (s *SQL) GetRevokedToken(ctx context.Context, jti string) (RevokedToken, error) {
	t, err := scanRevokedToken(s.conn().QueryRowContext(ctx, s.q(`SELECT `+revokedTokenColumns+` FROM revoked_tokens WHERE jti = ?`), jti))
	return t, mapErr("get revoked token", err)
}

// ListRevokedTokens returns the revoked tokens that expire after after.
func (s *SQL) ListRevokedTokens(ctx context.Context, after time.Time) ([]RevokedToken, error) {
	rows, err := s.conn().QueryContext(ctx, s.q(`SELECT `+revokedTokenColumns+` FROM revoked_tokens WHERE expires_at > ?`), after.UnixMicro())
	if err != nil {
		return nil, mapErr("list revoked tokens", err)
	}
	return collect(rows, scanRevokedToken, "list revoked tokens")
}

// PruneRevokedTokens forgets tokens that expired before t.
func (s *SQL) PruneRevokedTokens(ctx context.Context, before time.Time) (int, error) {
	res, err := s.conn().ExecContext(ctx, s.q(`DELETE FROM revoked_tokens WHERE expires_at < ?`), before.UnixMicro())
	if err != nil {
		return 0, mapErr("prune revoked tokens", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
