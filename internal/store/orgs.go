package store

import (
	"context"
	"database/sql"
	"time"

	"sapient.dev/sapient/internal/name"
)

const orgColumns = `id, name, scopes, created_at, updated_at, token_rate_limit, api_rate_limit`

func scanOrg(row interface{ Scan(...any) error }) (Org, error) {
	var (
		o                Org
		scopes           string
		created, updated sql.NullInt64
	)
	if err := row.Scan(&o.ID, &o.Name, &scopes, &created, &updated, &o.TokenRateLimit, &o.APIRateLimit); err != nil {
		return Org{}, err
	}
	o.Scopes = splitScopes(scopes)
	o.CreatedAt = fromMicros(created)
	o.UpdatedAt = fromMicros(updated)
	return o, nil
}

// CreateOrg inserts an organisation; names are unique by name.Key
// (whatever their case or width).
func (s *SQL) CreateOrg(ctx context.Context, o Org) error {
	if o.UpdatedAt.IsZero() {
		o.UpdatedAt = o.CreatedAt
	}
	_, err := s.conn().ExecContext(ctx, s.q(`INSERT INTO orgs (`+orgColumns+`, name_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
		o.ID, o.Name, joinScopes(o.Scopes), micros(o.CreatedAt), o.UpdatedAt.UnixMicro(), o.TokenRateLimit, o.APIRateLimit, name.Key(o.Name))
	return mapErr("create organisation", err)
}

// GetOrg finds an organisation by ID.
func (s *SQL) GetOrg(ctx context.Context, id string) (Org, error) {
	o, err := scanOrg(s.conn().QueryRowContext(ctx, s.q(`SELECT `+orgColumns+` FROM orgs WHERE id = ?`), id))
	return o, mapErr("get organisation", err)
}

// GetOrgByName finds an organisation by name, whatever its case, width
// or normalisation form (by name.Key).
func (s *SQL) GetOrgByName(ctx context.Context, n string) (Org, error) {
	o, err := scanOrg(s.conn().QueryRowContext(ctx, s.q(`SELECT `+orgColumns+` FROM orgs WHERE name_key = ?`), name.Key(n)))
	return o, mapErr("get organisation", err)
}

// ListOrgs lists every organisation by name.
func (s *SQL) ListOrgs(ctx context.Context) ([]Org, error) {
	rows, err := s.conn().QueryContext(ctx, s.q(`SELECT `+orgColumns+` FROM orgs ORDER BY lower(name)`))
	if err != nil {
		return nil, mapErr("list organisations", err)
	}
	return collect(rows, scanOrg, "list organisations")
}

// UpdateOrg changes an organisation's name or scope grant.
func (s *SQL) UpdateOrg(ctx context.Context, id string, update func(Org) (Org, error)) (Org, error) {
	var out Org
	err := s.inTx(ctx, func(tx queryer) error {
		old, err := scanOrg(tx.QueryRowContext(ctx, s.q(`SELECT `+orgColumns+` FROM orgs WHERE id = ?`+s.forUpdate), id))
		if err != nil {
			return mapErr("update organisation", err)
		}
		o, err := update(old)
		if err != nil {
			return err
		}
		if !o.UpdatedAt.After(old.UpdatedAt) {
			o.UpdatedAt = old.UpdatedAt.Add(time.Microsecond)
		}
		_, err = tx.ExecContext(ctx, s.q(`UPDATE orgs SET name = ?, name_key = ?, scopes = ?, updated_at = ?, token_rate_limit = ?, api_rate_limit = ?
			WHERE id = ?`), o.Name, name.Key(o.Name), joinScopes(o.Scopes), o.UpdatedAt.UnixMicro(), o.TokenRateLimit, o.APIRateLimit, id)
		if err != nil {
			return mapErr("update organisation", err)
		}
		o.ID = id
		out = o
		return nil
	})
	return out, err
}

// OrgsUpdatedSince returns organisations changed at or after since.
func (s *SQL) OrgsUpdatedSince(ctx context.Context, since time.Time) ([]Org, error) {
	rows, err := s.conn().QueryContext(ctx, s.q(`SELECT `+orgColumns+` FROM orgs WHERE updated_at >= ? ORDER BY updated_at`), since.UnixMicro())
	if err != nil {
		return nil, mapErr("poll organisations", err)
	}
	return collect(rows, scanOrg, "poll organisations")
}
