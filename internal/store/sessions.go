package store

import (
	"context"
	"database/sql"
	"time"
)

// CreateSession stores a console session.
func (s *SQL) CreateSession(ctx context.Context, se Session) error {
	_, err := s.conn().ExecContext(ctx, s.q(`INSERT INTO sessions (id, user_id, created_at, last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?)`),
		se.ID, se.UserID, micros(se.CreatedAt), micros(se.LastSeenAt), micros(se.ExpiresAt))
	return mapErr("create session", err)
}

// GetSession finds a session by the digest of its cookie value.
func (s *SQL) GetSession(ctx context.Context, id string) (Session, error) {
	var (
		se                     Session
		created, seen, expires sql.NullInt64
	)
	err := s.conn().QueryRowContext(ctx, s.q(`SELECT id, user_id, created_at, last_seen_at, expires_at FROM sessions WHERE id = ?`), id).
		Scan(&se.ID, &se.UserID, &created, &seen, &expires)
	se.CreatedAt, se.LastSeenAt, se.ExpiresAt = fromMicros(created), fromMicros(seen), fromMicros(expires)
	return se, mapErr("get session", err)
}

// TouchSession records activity on a session.
func (s *SQL) TouchSession(ctx context.Context, id string, lastSeen time.Time) error {
	_, err := s.conn().ExecContext(ctx, s.q(`UPDATE sessions SET last_seen_at = ? WHERE id = ?`), lastSeen.UnixMicro(), id)
	return mapErr("touch session", err)
}

// DeleteSession ends a session.
func (s *SQL) DeleteSession(ctx context.Context, id string) error {
	_, err := s.conn().ExecContext(ctx, s.q(`DELETE FROM sessions WHERE id = ?`), id)
	return mapErr("delete session", err)
}

// DeleteUserSessions ends every session of a user except keepID.
func (s *SQL) DeleteUserSessions(ctx context.Context, userID, keepID string) error {
	_, err := s.conn().ExecContext(ctx, s.q(`DELETE FROM sessions WHERE user_id = ? AND id <> ?`), userID, keepID)
	return mapErr("delete sessions", err)
}

// DeleteExpiredSessions removes sessions past their absolute or idle limit.
func (s *SQL) DeleteExpiredSessions(ctx context.Context, now, idleSince time.Time) (int, error) {
	res, err := s.conn().ExecContext(ctx, s.q(`DELETE FROM sessions WHERE expires_at < ? OR last_seen_at < ?`),
		now.UnixMicro(), idleSince.UnixMicro())
	if err != nil {
		return 0, mapErr("delete expired sessions", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
