package store

import (
	"context"
	"database/sql"
	"time"
)

// TOTP is a person's authenticator app (RFC 6238). Secret is the shared
// secret sealed under the key-encryption key; the store never sees it in
// plain text. An authenticator is in use once ConfirmedAt is set, when the
// person has typed a code from it. LastStep is the time step of the last
// code accepted: a code of that step or an earlier one is never accepted
// again.
type TOTP struct {
	UserID      string
	Secret      string
	ConfirmedAt time.Time
	LastStep    int64
	CreatedAt   time.Time
}

// Passkey is a WebAuthn credential of a person. ID is the credential ID
// (base64url); Credential is the library's record of it in JSON: the
// public key, the signature counter and the flags, never a secret.
type Passkey struct {
	ID         string
	UserID     string
	Name       string
	Credential []byte
	CreatedAt  time.Time
	LastUsedAt time.Time
}

// Challenge is the state of a WebAuthn ceremony between its two requests.
// It is taken (read and deleted) once. UserID is empty for a passwordless
// login, where the person is not known yet.
type Challenge struct {
	ID        string
	UserID    string
	Data      []byte
	ExpiresAt time.Time
}

// Who a two-factor policy requires a second factor of.
const (
	RequireNobody   = ""
	RequireAdmins   = "admins"
	RequireEveryone = "everyone"
)

// TwoFactor stores second factors and the policy that requires them.
type TwoFactor interface {
	// PutTOTP stores the authenticator of a user, replacing any other.
	PutTOTP(ctx context.Context, t TOTP) error
	GetTOTP(ctx context.Context, userID string) (TOTP, error)
	// UpdateTOTP reads, changes and writes a user's authenticator in one
	// transaction; update's error aborts it and is returned unchanged.
	UpdateTOTP(ctx context.Context, userID string, update func(TOTP) (TOTP, error)) (TOTP, error)
	DeleteTOTP(ctx context.Context, userID string) error

	// SetRecoveryCodes replaces the recovery codes of a user with digests.
	SetRecoveryCodes(ctx context.Context, userID string, digests []string) error
	// UseRecoveryCode marks the unused code of digest used; ErrNotFound
	// when the user has no such unused code.
	UseRecoveryCode(ctx context.Context, userID, digest string, at time.Time) error
	// CountRecoveryCodes counts a user's unused codes.
	CountRecoveryCodes(ctx context.Context, userID string) (int, error)

	CreatePasskey(ctx context.Context, p Passkey) error
	GetPasskey(ctx context.Context, id string) (Passkey, error)
	// ListPasskeys returns a user's passkeys, oldest first.
	ListPasskeys(ctx context.Context, userID string) ([]Passkey, error)
	// UpdatePasskeyUse records a use: the new credential record (its
	// signature counter) and when.
	UpdatePasskeyUse(ctx context.Context, id string, credential []byte, at time.Time) error
	// DeletePasskey removes the passkey id of userID; ErrNotFound when
	// that user has none of that ID.
	DeletePasskey(ctx context.Context, userID, id string) error

	// CreateChallenge stores a ceremony's state and deletes those that
	// expired before now, so that ceremonies begun and never finished
	// (anyone may begin a passwordless login) do not pile up.
	CreateChallenge(ctx context.Context, c Challenge, now time.Time) error
	// TakeChallenge deletes and returns the challenge id; ErrNotFound
	// when it does not exist or expired before now.
	TakeChallenge(ctx context.Context, id string, now time.Time) (Challenge, error)

	// TwoFactorPolicy returns whom orgID requires a second factor of
	// (RequireNobody when unset); orgID "" is the global policy.
	TwoFactorPolicy(ctx context.Context, orgID string) (string, error)
	SetTwoFactorPolicy(ctx context.Context, orgID, require string) error
	// TwoFactorUsers returns the IDs of users who have a confirmed
	// authenticator or a passkey.
	TwoFactorUsers(ctx context.Context) (map[string]bool, error)
}

const totpColumns = `user_id, secret, confirmed_at, last_step, created_at`

func scanTOTP(row interface{ Scan(...any) error }) (TOTP, error) {
	var (
		t                  TOTP
		confirmed, created sql.NullInt64
	)
	err := row.Scan(&t.UserID, &t.Secret, &confirmed, &t.LastStep, &created)
	t.ConfirmedAt, t.CreatedAt = fromMicros(confirmed), fromMicros(created)
	return t, err
}

// PutTOTP stores the authenticator of a user, replacing any other.
func (s *SQL) PutTOTP(ctx context.Context, t TOTP) error {
	return s.inTx(ctx, func(tx queryer) error {
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM totp WHERE user_id = ?`), t.UserID); err != nil {
			return mapErr("put totp", err)
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO totp (`+totpColumns+`) VALUES (?, ?, ?, ?, ?)`),
			t.UserID, t.Secret, micros(t.ConfirmedAt), t.LastStep, micros(t.CreatedAt))
		return mapErr("put totp", err)
	})
}

// GetTOTP returns the authenticator of a user.
func (s *SQL) GetTOTP(ctx context.Context, userID string) (TOTP, error) {
	t, err := scanTOTP(s.conn().QueryRowContext(ctx, s.q(`SELECT `+totpColumns+` FROM totp WHERE user_id = ?`), userID))
	return t, mapErr("get totp", err)
}

// UpdateTOTP reads, changes and writes a user's authenticator.
func (s *SQL) UpdateTOTP(ctx context.Context, userID string, update func(TOTP) (TOTP, error)) (TOTP, error) {
	var out TOTP
	err := s.inTx(ctx, func(tx queryer) error {
		old, err := scanTOTP(tx.QueryRowContext(ctx, s.q(`SELECT `+totpColumns+` FROM totp WHERE user_id = ?`+s.forUpdate), userID))
		if err != nil {
			return mapErr("update totp", err)
		}
		t, err := update(old)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q(`UPDATE totp SET secret = ?, confirmed_at = ?, last_step = ? WHERE user_id = ?`),
			t.Secret, micros(t.ConfirmedAt), t.LastStep, userID)
		if err != nil {
			return mapErr("update totp", err)
		}
		t.UserID, t.CreatedAt = userID, old.CreatedAt
		out = t
		return nil
	})
	return out, err
}

// DeleteTOTP removes the authenticator of a user, if any.
func (s *SQL) DeleteTOTP(ctx context.Context, userID string) error {
	_, err := s.conn().ExecContext(ctx, s.q(`DELETE FROM totp WHERE user_id = ?`), userID)
	return mapErr("delete totp", err)
}

// SetRecoveryCodes replaces the recovery codes of a user.
func (s *SQL) SetRecoveryCodes(ctx context.Context, userID string, digests []string) error {
	return s.inTx(ctx, func(tx queryer) error {
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM recovery_codes WHERE user_id = ?`), userID); err != nil {
			return mapErr("set recovery codes", err)
		}
		for _, d := range digests {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO recovery_codes (user_id, digest) VALUES (?, ?)`), userID, d); err != nil {
				return mapErr("set recovery codes", err)
			}
		}
		return nil
	})
}

// UseRecoveryCode marks an unused recovery code used.
func (s *SQL) UseRecoveryCode(ctx context.Context, userID, digest string, at time.Time) error {
	res, err := s.conn().ExecContext(ctx, s.q(`UPDATE recovery_codes SET used_at = ? WHERE user_id = ? AND digest = ? AND used_at IS NULL`),
		at.UnixMicro(), userID, digest)
	if err != nil {
		return mapErr("use recovery code", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// CountRecoveryCodes counts a user's unused recovery codes.
func (s *SQL) CountRecoveryCodes(ctx context.Context, userID string) (int, error) {
	var n int
	err := s.conn().QueryRowContext(ctx, s.q(`SELECT count(*) FROM recovery_codes WHERE user_id = ? AND used_at IS NULL`), userID).Scan(&n)
	return n, mapErr("count recovery codes", err)
}

const passkeyColumns = `id, user_id, name, credential, created_at, last_used_at`

func scanPasskey(row interface{ Scan(...any) error }) (Passkey, error) {
	var (
		p             Passkey
		cred          string
		created, used sql.NullInt64
	)
	err := row.Scan(&p.ID, &p.UserID, &p.Name, &cred, &created, &used)
	p.Credential, p.CreatedAt, p.LastUsedAt = []byte(cred), fromMicros(created), fromMicros(used)
	return p, err
}

// CreatePasskey stores a new passkey; its ID is unique.
func (s *SQL) CreatePasskey(ctx context.Context, p Passkey) error {
	_, err := s.conn().ExecContext(ctx, s.q(`INSERT INTO passkeys (`+passkeyColumns+`) VALUES (?, ?, ?, ?, ?, ?)`),
		p.ID, p.UserID, p.Name, string(p.Credential), micros(p.CreatedAt), micros(p.LastUsedAt))
	return mapErr("create passkey", err)
}

// GetPasskey finds a passkey by its credential ID.
func (s *SQL) GetPasskey(ctx context.Context, id string) (Passkey, error) {
	p, err := scanPasskey(s.conn().QueryRowContext(ctx, s.q(`SELECT `+passkeyColumns+` FROM passkeys WHERE id = ?`), id))
	return p, mapErr("get passkey", err)
}

// ListPasskeys returns a user's passkeys, oldest first.
func (s *SQL) ListPasskeys(ctx context.Context, userID string) ([]Passkey, error) {
	rows, err := s.conn().QueryContext(ctx, s.q(`SELECT `+passkeyColumns+` FROM passkeys WHERE user_id = ? ORDER BY created_at, id`), userID)
	if err != nil {
		return nil, mapErr("list passkeys", err)
	}
	return collect(rows, scanPasskey, "list passkeys")
}

// UpdatePasskeyUse records a use of a passkey.
func (s *SQL) UpdatePasskeyUse(ctx context.Context, id string, credential []byte, at time.Time) error {
	res, err := s.conn().ExecContext(ctx, s.q(`UPDATE passkeys SET credential = ?, last_used_at = ? WHERE id = ?`), string(credential), at.UnixMicro(), id)
	if err != nil {
		return mapErr("update passkey", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// DeletePasskey removes a passkey of a user.
func (s *SQL) DeletePasskey(ctx context.Context, userID, id string) error {
	res, err := s.conn().ExecContext(ctx, s.q(`DELETE FROM passkeys WHERE id = ? AND user_id = ?`), id, userID)
	if err != nil {
		return mapErr("delete passkey", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// CreateChallenge stores the state of a WebAuthn ceremony and deletes
// the expired ones.
func (s *SQL) CreateChallenge(ctx context.Context, c Challenge, now time.Time) error {
	return s.inTx(ctx, func(tx queryer) error {
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM webauthn_challenges WHERE expires_at < ?`), now.UnixMicro()); err != nil {
			return mapErr("create challenge", err)
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO webauthn_challenges (id, user_id, data, expires_at) VALUES (?, ?, ?, ?)`),
			c.ID, c.UserID, string(c.Data), c.ExpiresAt.UnixMicro())
		return mapErr("create challenge", err)
	})
}

// TakeChallenge deletes and returns a challenge that has not expired.
// Expired challenges are deleted on the way.
func (s *SQL) TakeChallenge(ctx context.Context, id string, now time.Time) (Challenge, error) {
	var c Challenge
	err := s.inTx(ctx, func(tx queryer) error {
		var (
			data    string
			expires int64
		)
		err := tx.QueryRowContext(ctx, s.q(`SELECT id, user_id, data, expires_at FROM webauthn_challenges WHERE id = ?`+s.forUpdate), id).
			Scan(&c.ID, &c.UserID, &data, &expires)
		if err != nil {
			return mapErr("take challenge", err)
		}
		c.Data, c.ExpiresAt = []byte(data), time.UnixMicro(expires).UTC()
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM webauthn_challenges WHERE id = ? OR expires_at < ?`), id, now.UnixMicro()); err != nil {
			return mapErr("take challenge", err)
		}
		return nil
	})
	if err != nil {
		return Challenge{}, err
	}
	if !now.Before(c.ExpiresAt) {
		return Challenge{}, ErrNotFound
	}
	return c, nil
}

// TwoFactorPolicy returns whom orgID ("" for the global policy) requires
// a second factor of.
func (s *SQL) TwoFactorPolicy(ctx context.Context, orgID string) (string, error) {
	var req string
	err := s.conn().QueryRowContext(ctx, s.q(`SELECT require FROM two_factor_policy WHERE org_id = ?`), orgID).Scan(&req)
	if err == sql.ErrNoRows {
		return RequireNobody, nil
	}
	return req, mapErr("two-factor policy", err)
}

// SetTwoFactorPolicy sets whom orgID ("" for global) requires a second
// factor of.
func (s *SQL) SetTwoFactorPolicy(ctx context.Context, orgID, require string) error {
	return s.inTx(ctx, func(tx queryer) error {
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM two_factor_policy WHERE org_id = ?`), orgID); err != nil {
			return mapErr("set two-factor policy", err)
		}
		if require == RequireNobody {
			return nil
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO two_factor_policy (org_id, require) VALUES (?, ?)`), orgID, require)
		return mapErr("set two-factor policy", err)
	})
}

// TwoFactorUsers returns the IDs of users with a confirmed authenticator
// or a passkey.
func (s *SQL) TwoFactorUsers(ctx context.Context) (map[string]bool, error) {
	rows, err := s.conn().QueryContext(ctx, s.q(`SELECT user_id FROM totp WHERE confirmed_at IS NOT NULL UNION SELECT user_id FROM passkeys`))
	if err != nil {
		return nil, mapErr("two-factor users", err)
	}
	ids, err := collect(rows, func(r interface{ Scan(...any) error }) (string, error) {
		var id string
		return id, r.Scan(&id)
	}, "two-factor users")
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(ids))
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}
