package store

import (
	"context"
	"database/sql"
	"time"
)

// CreateSession stores a console session.
func (s *SQL) CreateSession(ctx context.Context, se Session) error {
	_, err := s.conn().ExecContext(ctx, s.q(`INSERT INTO sessions (`+sessionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
		se.ID, se.UserID, micros(se.CreatedAt), micros(se.LastSeenAt), micros(se.ExpiresAt), se.UserAgent, se.IP, se.Pending)
	return mapErr("create session", err)
}

// GetSession finds a session by the digest of its cookie value.
func (s *SQL) GetSession(ctx context.Context, id string) (Session, error) {
	se, err := scanSession(s.conn().QueryRowContext(ctx, s.q(`SELECT `+sessionColumns+` FROM sessions WHERE id = ?`), id))
	return se, mapErr("get session", err)
}

const sessionColumns = `id, user_id, created_at, last_seen_at, expires_at, user_agent, ip, pending`

func scanSession(row interface{ Scan(...any) error }) (Session, error) {
	var (
		se                     Session
		created, seen, expires sql.NullInt64
	)
	err := row.Scan(&se.ID, &se.UserID, &created, &seen, &expires, &se.UserAgent, &se.IP, &se.Pending)
	se.CreatedAt, se.LastSeenAt, se.ExpiresAt = fromMicros(created), fromMicros(seen), fromMicros(expires)
	return se, err
}

// ListUserSessions returns the sessions of a user, newest first.
func (s *SQL) ListUserSessions(ctx context.Context, userID string) ([]Session, error) {
	rows, err := s.conn().QueryContext(ctx, s.q(`SELECT `+sessionColumns+` FROM sessions WHERE user_id = ? ORDER BY created_at DESC, id`), userID)
	if err != nil {
		return nil, mapErr("list sessions", err)
	}
	return collect(rows, scanSession, "list sessions")
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
