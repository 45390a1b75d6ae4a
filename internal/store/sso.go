package store

import (
	"context"
	"database/sql"
	"strings"
)

const ssoColumns = `id, name, issuer, client_id, client_secret, org_id, domains, admin_emails, created_at`

func scanSSOProvider(row interface{ Scan(...any) error }) (SSOProvider, error) {
	var (
		p               SSOProvider
		org             sql.NullString
		domains, admins string
		created         sql.NullInt64
	)
	err := row.Scan(&p.ID, &p.Name, &p.Issuer, &p.ClientID, &p.ClientSecret, &org, &domains, &admins, &created)
	p.OrgID, p.Domains, p.AdminEmails, p.CreatedAt = org.String, strings.Fields(domains), strings.Fields(admins), fromMicros(created)
	return p, err
}

// CreateSSOProvider adds a single sign-on provider. An ID in use is
// ErrAlreadyExists; an unknown organisation is ErrNotFound.
func (s *SQL) CreateSSOProvider(ctx context.Context, p SSOProvider) error {
	var org any
	if p.OrgID != "" {
		org = p.OrgID
		if _, err := s.GetOrg(ctx, p.OrgID); err != nil {
			return err
		}
	}
	_, err := s.conn().ExecContext(ctx, s.q(`INSERT INTO sso_providers (`+ssoColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		p.ID, p.Name, p.Issuer, p.ClientID, p.ClientSecret, org,
		strings.Join(p.Domains, " "), strings.Join(p.AdminEmails, " "), micros(p.CreatedAt))
	return mapErr("create sso provider", err)
}

// GetSSOProvider returns the provider of id, or ErrNotFound.
func (s *SQL) GetSSOProvider(ctx context.Context, id string) (SSOProvider, error) {
	p, err := scanSSOProvider(s.conn().QueryRowContext(ctx, s.q(`SELECT `+ssoColumns+` FROM sso_providers WHERE id = ?`), id))
	return p, mapErr("get sso provider", err)
}

// ListSSOProviders lists the providers by name.
func (s *SQL) ListSSOProviders(ctx context.Context) ([]SSOProvider, error) {
	rows, err := s.conn().QueryContext(ctx, `SELECT `+ssoColumns+` FROM sso_providers ORDER BY name, id`)
	if err != nil {
		return nil, mapErr("list sso providers", err)
	}
	return collect(rows, scanSSOProvider, "list sso providers")
}

// DeleteSSOProvider removes the provider of id; an unknown one is
// ErrNotFound.
func (s *SQL) DeleteSSOProvider(ctx context.Context, id string) error {
	res, err := s.conn().ExecContext(ctx, s.q(`DELETE FROM sso_providers WHERE id = ?`), id)
	if err != nil {
		return mapErr("delete sso provider", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}
