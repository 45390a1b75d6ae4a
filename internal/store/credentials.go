package store

import (
	"context"
	"database/sql"
	"slices"
	"strings"

	"github.com/pressly/goose/v3"

	"sapient.dev/sapient/internal/name"
)

const credentialColumns = `client_id, org_id, name, secret_hash, scopes, created_at, created_by,
	last_used_at, revoked_at, revoked_by, expires_at, updated_at,
	last_used_ip, previous_secret_hash, previous_secret_expires_at, allowed_cidrs, version`

func scanCredential(row interface{ Scan(...any) error }) (Credential, error) {
	var (
		c                                                    Credential
		scopes, cidrs                                        string
		created, lastUsed, revoked, expires, upd, prevExpiry sql.NullInt64
	)
	if err := row.Scan(&c.ClientID, &c.OrgID, &c.Name, &c.SecretHash, &scopes, &created, &c.CreatedBy,
		&lastUsed, &revoked, &c.RevokedBy, &expires, &upd,
		&c.LastUsedIP, &c.PreviousSecretHash, &prevExpiry, &cidrs, &c.Version); err != nil {
		return Credential{}, err
	}
	c.PreviousSecretExpiresAt = fromMicros(prevExpiry)
	c.AllowedCIDRs = splitScopes(cidrs)
	c.Scopes = splitScopes(scopes)
	c.CreatedAt = fromMicros(created)
	c.LastUsedAt = fromMicros(lastUsed)
	c.RevokedAt = fromMicros(revoked)
	c.ExpiresAt = fromMicros(expires)
	c.UpdatedAt = fromMicros(upd)
	return c, nil
}

// CreateCredential inserts a credential. A second active credential with
// the same name in one organisation (by name.Key: whatever the case or
// width) is ErrAlreadyExists.
// The store stamps UpdatedAt and assigns Version, recording the change in
// the change log.
func (s *SQL) CreateCredential(ctx context.Context, c Credential) (Credential, error) {
	err := s.inTx(ctx, func(tx queryer) error {
		seq, err := s.recordChange(ctx, tx, ChangeCredential, c.ClientID)
		if err != nil {
			return err
		}
		c.UpdatedAt, c.Version = s.now(), seq
		_, err = tx.ExecContext(ctx, s.q(bulkInsert(1)), credentialValues(c)...)
		return mapErr("create credential", err)
	})
	if err != nil {
		return Credential{}, err
	}
	return c, nil
}

// credentialsWithLastUse is the FROM clause of the reads people see
// (console, API, CLI): each credential, as c, with the usage row (u) of its
// latest hour that holds a last use, found through usage_hourly's index on
// (client_id, hour), and the latest last use (p) among the rows that wait
// in usage_pending for a fold, so that the read is exact without folding.
// A bucket's last use falls within its hour, so u holds the credential's
// latest last use in usage_hourly. pending selects the rows of
// usage_pending read, as "client_id = ?" or "org_id = ?" or "1 = 1": the
// table has no index, and a fold empties it at least every foldEvery.
func (s *SQL) credentialsWithLastUse(pending string) string {
	ip := `(array_agg(last_used_ip ORDER BY last_used_at DESC))[1]`
	if s.dialect != goose.DialectPostgres {
		ip = `last_used_ip` // SQLite: the bare column comes from the row of max()
	}
	return `credentials c LEFT JOIN usage_hourly u
	ON u.client_id = c.client_id AND u.hour = (SELECT max(h.hour) FROM usage_hourly h
		WHERE h.client_id = c.client_id AND h.last_used_at IS NOT NULL)
	LEFT JOIN (SELECT client_id, max(last_used_at) AS last_used_at, ` + ip + ` AS last_used_ip
		FROM usage_pending WHERE ` + pending + ` AND last_used_at IS NOT NULL GROUP BY client_id) p
	ON p.client_id = c.client_id`
}

// credentialViewColumns are credentialColumns read from
// credentialsWithLastUse, in the same order so that scanCredential reads
// them: the last use is the latest of the one kept with the credential
// (c), the usage row's (u) and the waiting rows' (p); on a tie the one
// already folded, as a fold keeps it.
var credentialViewColumns = func() string {
	const (
		pending = `p.last_used_at IS NOT NULL AND (c.last_used_at IS NULL OR p.last_used_at > c.last_used_at)
			AND (u.last_used_at IS NULL OR p.last_used_at > u.last_used_at)`
		hourly = `u.last_used_at IS NOT NULL AND (c.last_used_at IS NULL OR u.last_used_at > c.last_used_at)`
	)
	cols := strings.Split(credentialColumns, ",")
	for i, col := range cols {
		switch col = strings.TrimSpace(col); col {
		case "last_used_at", "last_used_ip":
			cols[i] = `CASE WHEN ` + pending + ` THEN p.` + col + ` WHEN ` + hourly + ` THEN u.` + col + ` ELSE c.` + col + ` END`
		default:
			cols[i] = "c." + col
		}
	}
	return strings.Join(cols, ", ")
}()

// GetCredential finds a credential by client ID, with its last use.
func (s *SQL) GetCredential(ctx context.Context, clientID string) (Credential, error) {
	c, err := scanCredential(s.conn().QueryRowContext(ctx,
		s.q(`SELECT `+credentialViewColumns+` FROM `+s.credentialsWithLastUse(`client_id = ?`)+` WHERE c.client_id = ?`), clientID, clientID))
	return c, mapErr("get credential", err)
}

// ListCredentials lists credentials, newest first, with their last use.
func (s *SQL) ListCredentials(ctx context.Context, f CredentialFilter) ([]Credential, error) {
	query := `SELECT ` + credentialViewColumns + ` FROM ` + s.credentialsWithLastUse(`1 = 1`)
	var args []any
	if f.OrgID != "" {
		query = `SELECT ` + credentialViewColumns + ` FROM ` + s.credentialsWithLastUse(`org_id = ?`) + ` WHERE c.org_id = ?`
		args = append(args, f.OrgID, f.OrgID)
	}
	query += ` ORDER BY c.created_at DESC, c.client_id`
	rows, err := s.conn().QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, mapErr("list credentials", err)
	}
	return collect(rows, scanCredential, "list credentials")
}

// UpdateCredential is a read-modify-write of one credential. The result
// carries the last use as GetCredential reads it.
func (s *SQL) UpdateCredential(ctx context.Context, clientID string, update func(Credential) (Credential, error)) (Credential, error) {
	var out Credential
	err := s.inTx(ctx, func(tx queryer) error {
		old, err := scanCredential(tx.QueryRowContext(ctx,
			s.q(`SELECT `+credentialViewColumns+` FROM `+s.credentialsWithLastUse(`client_id = ?`)+` WHERE c.client_id = ?`+s.forUpdateCredential),
			clientID, clientID))
		if err != nil {
			return mapErr("update credential", err)
		}
		c, err := update(old)
		if err != nil {
			return err
		}
		if sameCredential(old, c) {
			out = old // nothing to write, and no change for instances to apply
			return nil
		}
		if c.Version, err = s.recordChange(ctx, tx, ChangeCredential, clientID); err != nil {
			return err
		}
		c.UpdatedAt = s.now()
		_, err = tx.ExecContext(ctx, s.q(`UPDATE credentials SET name = ?, name_key = ?, secret_hash = ?, scopes = ?, revoked_at = ?,
			revoked_by = ?, expires_at = ?, updated_at = ?, previous_secret_hash = ?, previous_secret_expires_at = ?,
			allowed_cidrs = ?, version = ? WHERE client_id = ?`),
			c.Name, name.Key(c.Name), c.SecretHash, joinScopes(c.Scopes), micros(c.RevokedAt), c.RevokedBy, micros(c.ExpiresAt),
			micros(c.UpdatedAt), c.PreviousSecretHash, micros(c.PreviousSecretExpiresAt), joinScopes(c.AllowedCIDRs), c.Version, clientID)
		if err != nil {
			return mapErr("update credential", err)
		}
		c.ClientID, c.OrgID, c.LastUsedAt, c.LastUsedIP = old.ClientID, old.OrgID, old.LastUsedAt, old.LastUsedIP
		out = c
		return nil
	})
	return out, err
}

// sameCredential reports whether an update leaves every field it may
// change as it was.
func sameCredential(a, b Credential) bool {
	return a.Name == b.Name && a.SecretHash == b.SecretHash && slices.Equal(a.Scopes, b.Scopes) &&
		a.RevokedAt.Equal(b.RevokedAt) && a.RevokedBy == b.RevokedBy && a.ExpiresAt.Equal(b.ExpiresAt) &&
		a.PreviousSecretHash == b.PreviousSecretHash && a.PreviousSecretExpiresAt.Equal(b.PreviousSecretExpiresAt) &&
		slices.Equal(a.AllowedCIDRs, b.AllowedCIDRs)
}
