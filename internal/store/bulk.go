package store

import (
	"context"
	"strings"

	"sapient.dev/sapient/internal/name"
)

// credentialInsertColumns are the columns a new credential's row is
// written with: credentialColumns and the key the store holds names unique
// by (name.Key), which is never read back.
const credentialInsertColumns = credentialColumns + `, name_key`

// credentialColumnCount is the number of columns in credentialInsertColumns.
var credentialColumnCount = strings.Count(credentialInsertColumns, ",") + 1

// bulkRows is how many credentials one INSERT statement carries, under
// SQLite's limit of 32766 parameters and PostgreSQL's of 65535.
var bulkRows = 30000 / credentialColumnCount

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
	return s.inTx(ctx, func(q queryer) error {
		// One position for them all, and no entry in the change log:
		// instances read them when first used.
		seq, err := nextSeq(ctx, q)
		if err != nil {
			return err
		}
		now := s.now()
		args := make([]any, 0, bulkRows*credentialColumnCount)
		for start := 0; start < len(creds); start += bulkRows {
			batch := creds[start:min(start+bulkRows, len(creds))]
			args = args[:0]
			for _, c := range batch {
				c.UpdatedAt, c.Version = now, seq
				args = append(args, credentialValues(c)...)
			}
			if _, err := q.ExecContext(ctx, s.q(bulkInsert(len(batch))), args...); err != nil {
				return mapErr("create credentials", err)
			}
		}
		return nil
	})
}

// credentialValues are the values of credentialInsertColumns for c, as
// CreateCredential writes them.
func credentialValues(c Credential) []any {
	return []any{c.ClientID, c.OrgID, c.Name, c.SecretHash, joinScopes(c.Scopes), micros(c.CreatedAt), c.CreatedBy,
		micros(c.LastUsedAt), micros(c.RevokedAt), c.RevokedBy, micros(c.ExpiresAt), micros(c.UpdatedAt),
		c.LastUsedIP, c.PreviousSecretHash, micros(c.PreviousSecretExpiresAt), joinScopes(c.AllowedCIDRs), c.Version, name.Key(c.Name)}
}

// bulkInsert is an INSERT of n credentials.
func bulkInsert(n int) string {
	row := "(?" + strings.Repeat(", ?", credentialColumnCount-1) + ")"
	var b strings.Builder
	b.WriteString(`INSERT INTO credentials (` + credentialInsertColumns + `) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(row)
	}
	return b.String()
}
