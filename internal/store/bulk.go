package store

import (
	"context"
	"database/sql"
	"strings"
)

// bulkRows is how many credentials one INSERT statement carries: 12
// columns each, well under SQLite's limit of 32766 parameters and
// PostgreSQL's of 65535.
const bulkRows = 500

// CreateCredentials inserts many credentials in one transaction, with
// multi-row INSERT statements. It is for provisioning at scale (the bench
// command); the rules of credential.Service (names, scopes, hashing) are
// the caller's to apply. A duplicate client ID, or a second active
// credential with the same name in one organisation, is ErrAlreadyExists
// and inserts nothing.
func (s *SQL) CreateCredentials(ctx context.Context, creds []Credential) error {
	if len(creds) == 0 {
		return nil
	}
	return s.inTx(ctx, func(tx queryer) error {
		var (
			stmt *sql.Stmt
			rows int
			err  error
		)
		defer func() {
			if stmt != nil {
				stmt.Close()
			}
		}()
		args := make([]any, 0, bulkRows*12)
		for start := 0; start < len(creds); start += bulkRows {
			batch := creds[start:min(start+bulkRows, len(creds))]
			if len(batch) != rows {
				if stmt != nil {
					stmt.Close()
				}
				if stmt, err = tx.PrepareContext(ctx, s.q(bulkInsert(len(batch)))); err != nil {
					return mapErr("create credentials", err)
				}
				rows = len(batch)
			}
			args = args[:0]
			for _, c := range batch {
				args = append(args, c.ClientID, c.OrgID, c.Name, c.SecretHash, joinScopes(c.Scopes),
					micros(c.CreatedAt), c.CreatedBy, micros(c.LastUsedAt), micros(c.RevokedAt), c.RevokedBy,
					micros(c.ExpiresAt), micros(c.UpdatedAt))
			}
			if _, err := stmt.ExecContext(ctx, args...); err != nil {
				return mapErr("create credentials", err)
			}
		}
		return nil
	})
}

// bulkInsert is an INSERT of n credentials.
func bulkInsert(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO credentials (` + credentialColumns + `) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	}
	return b.String()
}
