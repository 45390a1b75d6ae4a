package store

import (
	"context"
	"strings"
)

// Leak actions: what a reported leak of a credential's secret does to the
// credential, chosen per organisation.
const (
	// LeakRevoke revokes the credential (the default).
	LeakRevoke = "revoke"
	// LeakRoll gives the credential a new secret that nobody knows, with
	// no overlap: the leaked secret stops at once, the credential stays,
	// and its owner rolls it again to get a secret they can use.
	LeakRoll = "roll"
)

// Leaks finds credentials by the digests of reported secrets and keeps
// each organisation's choice of what a leak does.
type Leaks interface {
	// CredentialsBySecretHash returns the credentials whose current or
	// previous secret digest (hex, as stored) is one of hashes, revoked
	// ones included, in no particular order.
	CredentialsBySecretHash(ctx context.Context, hashes []string) ([]Credential, error)
	// OrgLeakAction returns the organisation's leak action: LeakRevoke or
	// LeakRoll.
	OrgLeakAction(ctx context.Context, orgID string) (string, error)
	// SetOrgLeakAction sets it; an unknown organisation is ErrNotFound.
	// It records no change: instances do not hold it in memory.
	SetOrgLeakAction(ctx context.Context, orgID, action string) error
}

// CredentialsBySecretHash finds credentials by secret digest through the
// indexes of migration 25.
func (s *SQL) CredentialsBySecretHash(ctx context.Context, hashes []string) ([]Credential, error) {
	if len(hashes) == 0 {
		return nil, nil
	}
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(hashes)), ", ")
	args := make([]any, 0, 2*len(hashes))
	for _, h := range hashes {
		args = append(args, h)
	}
	for _, h := range hashes {
		args = append(args, h)
	}
	rows, err := s.conn().QueryContext(ctx, s.q(`SELECT `+credentialColumns+` FROM credentials
		WHERE secret_hash IN (`+marks+`) OR previous_secret_hash IN (`+marks+`)`), args...)
	if err != nil {
		return nil, mapErr("credentials by secret", err)
	}
	return collect(rows, scanCredential, "credentials by secret")
}

// OrgLeakAction reads an organisation's leak action.
func (s *SQL) OrgLeakAction(ctx context.Context, orgID string) (string, error) {
	var action string
	err := s.conn().QueryRowContext(ctx, s.q(`SELECT leak_action FROM orgs WHERE id = ?`), orgID).Scan(&action)
	return action, mapErr("organisation leak action", err)
}

// SetOrgLeakAction writes an organisation's leak action.
func (s *SQL) SetOrgLeakAction(ctx context.Context, orgID, action string) error {
	res, err := s.conn().ExecContext(ctx, s.q(`UPDATE orgs SET leak_action = ? WHERE id = ?`), action, orgID)
	if err != nil {
		return mapErr("set organisation leak action", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return mapErr("set organisation leak action", err)
	} else if n == 0 {
		return ErrNotFound
	}
	return nil
}
