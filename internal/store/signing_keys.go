package store

import (
	"context"
	"database/sql"
	"time"
)

// CreateSigningKey stores a new signing key, and the change in the change
// log.
func (s *SQL) CreateSigningKey(ctx context.Context, k SigningKey) error {
	return s.inTx(ctx, func(tx queryer) error {
		seq, err := s.recordChange(ctx, tx, ChangeKey, k.ID)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO signing_keys (kid, algorithm, private_key, public_key, created_at, activates_at, version)
			VALUES (?, ?, ?, ?, ?, ?, ?)`), k.ID, k.Algorithm, string(k.PrivateKey), string(k.PublicKey), micros(k.CreatedAt), micros(k.ActivatesAt), seq)
		return mapErr("create signing key", err)
	})
}

// ListSigningKeys lists keys in the order they activate, retired ones
// included; of keys that activate at the same time, the one made later in
// the change log's order comes later.
func (s *SQL) ListSigningKeys(ctx context.Context) ([]SigningKey, error) {
	rows, err := s.conn().QueryContext(ctx, s.q(`SELECT kid, algorithm, private_key, public_key, created_at, activates_at, retired_at, version
		FROM signing_keys ORDER BY activates_at, version, kid`))
	if err != nil {
		return nil, mapErr("list signing keys", err)
	}
	return collect(rows, func(row interface{ Scan(...any) error }) (SigningKey, error) {
		var (
			k                          SigningKey
			priv, pub                  string
			created, activate, retired sql.NullInt64
		)
		err := row.Scan(&k.ID, &k.Algorithm, &priv, &pub, &created, &activate, &retired, &k.Version)
		k.PrivateKey, k.PublicKey = []byte(priv), []byte(pub)
		k.CreatedAt, k.ActivatesAt, k.RetiredAt = fromMicros(created), fromMicros(activate), fromMicros(retired)
		return k, err
	}, "list signing keys")
}

// RetireSigningKey marks a key retired at at, and records the change in
// the change log: instances stop publishing it and refuse its tokens. It
// is ErrNotFound for an unknown key.
func (s *SQL) RetireSigningKey(ctx context.Context, id string, at time.Time) error {
	return s.inTx(ctx, func(tx queryer) error {
		res, err := tx.ExecContext(ctx, s.q(`UPDATE signing_keys SET retired_at = ? WHERE kid = ? AND retired_at IS NULL`), at.UnixMicro(), id)
		if err != nil {
			return mapErr("retire signing key", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var one int
			if err := tx.QueryRowContext(ctx, s.q(`SELECT 1 FROM signing_keys WHERE kid = ?`), id).Scan(&one); err != nil {
				return mapErr("retire signing key", err)
			}
			return nil // retired already
		}
		_, err = s.recordChange(ctx, tx, ChangeKey, id)
		return err
	})
}

// DeleteSigningKey removes a key that no unexpired token can name, and
// records the change in the change log.
func (s *SQL) DeleteSigningKey(ctx context.Context, id string) error {
	return s.inTx(ctx, func(tx queryer) error {
		if _, err := s.recordChange(ctx, tx, ChangeKey, id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.q(`DELETE FROM signing_keys WHERE kid = ?`), id)
		return mapErr("delete signing key", err)
	})
}
