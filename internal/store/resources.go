package store

import (
	"context"
	"database/sql"
)

// CreateResource registers an API that tokens may be issued for, and
// records the change in the change log. A resource registered already is
// ErrAlreadyExists.
func (s *SQL) CreateResource(ctx context.Context, r Resource) error {
	return s.inTx(ctx, func(tx queryer) error {
		if _, err := s.recordChange(ctx, tx, ChangeResource, r.URI); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO resources (uri, description, created_at) VALUES (?, ?, ?)`),
			r.URI, r.Description, micros(r.CreatedAt))
		return mapErr("create resource", err)
	})
}

// ListResources lists the registered resources by URI.
func (s *SQL) ListResources(ctx context.Context) ([]Resource, error) {
	rows, err := s.conn().QueryContext(ctx, `SELECT uri, description, created_at FROM resources ORDER BY uri`)
	if err != nil {
		return nil, mapErr("list resources", err)
	}
	return collect(rows, func(row interface{ Scan(...any) error }) (Resource, error) {
		var (
			r       Resource
			created sql.NullInt64
		)
		err := row.Scan(&r.URI, &r.Description, &created)
		r.CreatedAt = fromMicros(created)
		return r, err
	}, "list resources")
}
