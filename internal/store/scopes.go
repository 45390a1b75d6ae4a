package store

import (
	"context"
	"database/sql"
)

func scanScope(row interface{ Scan(...any) error }) (Scope, error) {
	var (
		sc                 Scope
		builtin, adminOnly int64
		created            sql.NullInt64
	)
	if err := row.Scan(&sc.Name, &sc.Description, &builtin, &adminOnly, &created); err != nil {
		return Scope{}, err
	}
	sc.Builtin, sc.AdminOnly = builtin != 0, adminOnly != 0
	sc.CreatedAt = fromMicros(created)
	return sc, nil
}

// CreateScope defines a scope.
func (s *SQL) CreateScope(ctx context.Context, sc Scope) error {
	_, err := s.conn().ExecContext(ctx, s.q(`INSERT INTO scopes (name, description, builtin, admin_only, created_at) VALUES (?, ?, ?, ?, ?)`),
		sc.Name, sc.Description, boolInt(sc.Builtin), boolInt(sc.AdminOnly), micros(sc.CreatedAt))
	return mapErr("create scope", err)
}

// ListScopes lists every scope by name.
func (s *SQL) ListScopes(ctx context.Context) ([]Scope, error) {
	rows, err := s.conn().QueryContext(ctx, s.q(`SELECT name, description, builtin, admin_only, created_at FROM scopes ORDER BY name`))
	if err != nil {
		return nil, mapErr("list scopes", err)
	}
	return collect(rows, scanScope, "list scopes")
}
