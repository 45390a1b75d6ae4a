package store

import (
	"context"
	"database/sql"
)

// CreateSigningKey stores a new signing key.
func (s *SQL) CreateSigningKey(ctx context.Context, k SigningKey) error {
	_, err := s.conn().ExecContext(ctx, s.q(`INSERT INTO signing_keys (kid, algorithm, private_key, public_key, created_at, activates_at)
		VALUES (?, ?, ?, ?, ?, ?)`), k.ID, k.Algorithm, string(k.PrivateKey), string(k.PublicKey), micros(k.CreatedAt), micros(k.ActivatesAt))
	return mapErr("create signing key", err)
}

// ListSigningKeys lists keys in the order they activate.
func (s *SQL) ListSigningKeys(ctx context.Context) ([]SigningKey, error) {
	rows, err := s.conn().QueryContext(ctx, s.q(`SELECT kid, algorithm, private_key, public_key, created_at, activates_at
		FROM signing_keys ORDER BY activates_at, created_at, kid`))
	if err != nil {
		return nil, mapErr("list signing keys", err)
	}
	return collect(rows, func(row interface{ Scan(...any) error }) (SigningKey, error) {
		var (
			k                 SigningKey
			priv, pub         string
			created, activate sql.NullInt64
		)
		err := row.Scan(&k.ID, &k.Algorithm, &priv, &pub, &created, &activate)
		k.PrivateKey, k.PublicKey = []byte(priv), []byte(pub)
		k.CreatedAt, k.ActivatesAt = fromMicros(created), fromMicros(activate)
		return k, err
	}, "list signing keys")
}

// DeleteSigningKey removes a key that no unexpired token can name.
func (s *SQL) DeleteSigningKey(ctx context.Context, id string) error {
	_, err := s.conn().ExecContext(ctx, s.q(`DELETE FROM signing_keys WHERE kid = ?`), id)
	return mapErr("delete signing key", err)
}
