package store

import (
	"context"
	"database/sql"
	"time"
)

// RevokeToken records a revoked token; a repeat is not an error.
func (s *SQL) RevokeToken(ctx context.Context, t RevokedToken) error {
	_, err := s.conn().ExecContext(ctx, s.q(`INSERT INTO revoked_tokens (jti, client_id, expires_at, revoked_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (jti) DO NOTHING`), t.JTI, t.ClientID, t.ExpiresAt.UnixMicro(), t.RevokedAt.UnixMicro())
	return mapErr("revoke token", err)
}

// RevokedTokensSince returns tokens revoked at or after since.
func (s *SQL) RevokedTokensSince(ctx context.Context, since time.Time) ([]RevokedToken, error) {
	rows, err := s.conn().QueryContext(ctx, s.q(`SELECT jti, client_id, expires_at, revoked_at FROM revoked_tokens
		WHERE revoked_at >= ? ORDER BY revoked_at`), since.UnixMicro())
	if err != nil {
		return nil, mapErr("poll revoked tokens", err)
	}
	return collect(rows, func(row interface{ Scan(...any) error }) (RevokedToken, error) {
		var (
			t            RevokedToken
			exp, revoked sql.NullInt64
		)
		err := row.Scan(&t.JTI, &t.ClientID, &exp, &revoked)
		t.ExpiresAt, t.RevokedAt = fromMicros(exp), fromMicros(revoked)
		return t, err
	}, "poll revoked tokens")
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
