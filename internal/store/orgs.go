package store

import (
	"context"
	"database/sql"

	"sapient.dev/sapient/internal/name"
)

const orgColumns = `id, name, scopes, created_at, updated_at, token_rate_limit, api_rate_limit, version`

func scanOrg(row interface{ Scan(...any) error }) (Org, error) {
	var (
		o                Org
		scopes           string
		created, updated sql.NullInt64
	)
	if err := row.Scan(&o.ID, &o.Name, &scopes, &created, &updated, &o.TokenRateLimit, &o.APIRateLimit, &o.Version); err != nil {
		return Org{}, err
	}
	o.Scopes = splitScopes(scopes)
	o.CreatedAt = fromMicros(created)
	o.UpdatedAt = fromMicros(updated)
	return o, nil
}

// CreateOrg inserts an organisation; names are unique by name.Key
// (whatever their case or width).
// The store stamps UpdatedAt and assigns Version, recording the change in
// the change log.
func (s *SQL) CreateOrg(ctx context.Context, o Org) error {
	return s.inTx(ctx, func(tx queryer) error {
		seq, err := s.recordChange(ctx, tx, ChangeOrg, o.ID)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO orgs (`+orgColumns+`, name_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			o.ID, o.Name, joinScopes(o.Scopes), micros(o.CreatedAt), s.now().UnixMicro(), o.TokenRateLimit, o.APIRateLimit, seq, name.Key(o.Name))
		return mapErr("create organisation", err)
	})
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
		if o.Version, err = s.recordChange(ctx, tx, ChangeOrg, id); err != nil {
			return err
		}
		o.UpdatedAt = s.now()
		_, err = tx.ExecContext(ctx, s.q(`UPDATE orgs SET name = ?, name_key = ?, scopes = ?, updated_at = ?, token_rate_limit = ?, api_rate_limit = ?,
			version = ? WHERE id = ?`), o.Name, name.Key(o.Name), joinScopes(o.Scopes), o.UpdatedAt.UnixMicro(), o.TokenRateLimit, o.APIRateLimit, o.Version, id)
		if err != nil {
			return mapErr("update organisation", err)
		}
		o.ID = id
		out = o
		return nil
	})
	return out, err
}
