package user

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/audit"
	"sapient.dev/sapient/internal/store"
)

// RecoveryCodeCount is how many recovery codes a person gets at once.
const RecoveryCodeCount = 10

// Recovery codes are ten lowercase base32 characters shown as two groups
// of five ("k7x2m-q9w4t"): 50 random bits each, which the login throttle
// makes unguessable, short enough to type from paper. At rest each is the
// SHA-256 digest of the user ID and the code, as for other high-entropy
// secrets.
const recoveryAlphabet = "abcdefghijklmnopqrstuvwxyz234567"

func (t *TwoFactor) newRecoveryCodes(userID string) (codes, digests []string, err error) {
	for range RecoveryCodeCount {
		var b [10]byte
		if _, err := io.ReadFull(t.rand(), b[:]); err != nil {
			return nil, nil, fmt.Errorf("user: recovery codes: %w", err)
		}
		var sb strings.Builder
		for i, c := range b {
			if i == 5 {
				sb.WriteByte('-')
			}
			sb.WriteByte(recoveryAlphabet[c&31])
		}
		codes = append(codes, sb.String())
		digests = append(digests, recoveryDigest(userID, sb.String()))
	}
	return codes, digests, nil
}

// normalizeRecoveryCode drops what people add or change when typing a
// code: spaces, dashes and capitals.
func normalizeRecoveryCode(code string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '-' || r == ' ' || r == '\t':
			return -1
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return r
	}, code)
}

// looksLikeRecoveryCode tells a recovery code from a six-digit
// authenticator code.
func looksLikeRecoveryCode(code string) bool {
	return len(normalizeRecoveryCode(code)) == 10
}

func recoveryDigest(userID, code string) string {
	sum := sha256.Sum256([]byte("sapient recovery code\x00" + userID + "\x00" + normalizeRecoveryCode(code)))
	return hex.EncodeToString(sum[:])
}

// ErrNoSecondFactor refuses recovery codes to a person without a second
// factor: they would recover nothing.
var ErrNoSecondFactor = errors.New("user: no second factor to recover")

// RegenerateRecoveryCodes replaces the recovery codes of u with ten new
// ones, returned to be shown this once, after code (of the authenticator
// app, or a recovery code) proved the person holds a second factor: a
// session alone, perhaps taken from its browser, does not mint codes that
// outlive it. The codes' digests and the
// two_factor.recovery_codes_generated event are written in one
// transaction. A wrong code is ErrBadCode, as at login.
func (t *TwoFactor) RegenerateRecoveryCodes(ctx context.Context, actor access.Actor, u store.User, code string) ([]string, error) {
	return t.regenerateRecoveryCodes(ctx, actor, u, func() error {
		_, err := t.VerifyCode(ctx, actor, u, code)
		return err
	})
}

// RegenerateRecoveryCodesWithPassword is RegenerateRecoveryCodes for a
// person who proves themselves with their password; a wrong one is
// ErrBadLogin. It computes argon2id: callers throttle and bound it as a
// login.
func (t *TwoFactor) RegenerateRecoveryCodesWithPassword(ctx context.Context, actor access.Actor, u store.User, password string) ([]string, error) {
	return t.regenerateRecoveryCodes(ctx, actor, u, func() error {
		return t.checkPassword(ctx, actor, u, password, "wrong password to make new recovery codes")
	})
}

func (t *TwoFactor) regenerateRecoveryCodes(ctx context.Context, actor access.Actor, u store.User, prove func() error) ([]string, error) {
	st, err := t.Status(ctx, u)
	if err != nil {
		return nil, err
	}
	if !st.Enabled() {
		return nil, ErrNoSecondFactor
	}
	if err := prove(); err != nil {
		return nil, err
	}
	codes, digests, err := t.newRecoveryCodes(u.ID)
	if err != nil {
		return nil, err
	}
	err = t.Store.InTx(ctx, func(tx store.Store) error {
		if err := tx.SetRecoveryCodes(ctx, u.ID, digests); err != nil {
			return err
		}
		return audit.Write(ctx, tx, actor, audit.RecoveryCodesNew, u.OrgID, u.Email, fmt.Sprintf("%d new recovery codes", len(codes)), t.Now())
	})
	if err != nil {
		return nil, fmt.Errorf("user: recovery codes: %w", err)
	}
	return codes, nil
}
