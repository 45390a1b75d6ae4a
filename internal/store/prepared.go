package store

import (
	"context"
	"fmt"
)

// PrepareGetCredential returns a function that reads one credential as
// GetCredential does, through a statement prepared once. On SQLite a
// statement prepared for every call costs about twice the read itself;
// the token endpoint reads a credential the first time it sees it, which
// with a million credentials is most of the time.
func (s *SQL) PrepareGetCredential(ctx context.Context) (func(ctx context.Context, clientID string) (Credential, error), error) {
	stmt, err := s.db.PrepareContext(ctx, s.q(`SELECT `+credentialColumns+` FROM credentials WHERE client_id = ?`))
	if err != nil {
		return nil, fmt.Errorf("store: prepare get credential: %w", err)
	}
	return func(ctx context.Context, clientID string) (Credential, error) {
		c, err := scanCredential(stmt.QueryRowContext(ctx, clientID))
		return c, mapErr("get credential", err)
	}, nil
}
