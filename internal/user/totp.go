package user

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/audit"
	"sapient.dev/sapient/internal/keys"
	"sapient.dev/sapient/internal/store"
)

// Errors of the second factor that callers branch on.
var (
	// ErrBadCode is the one answer to a wrong, replayed or out-of-window
	// authenticator code and to an unknown or used recovery code.
	ErrBadCode = errors.New("user: the code is incorrect")
	// ErrTOTPEnabled refuses to enrol a second authenticator.
	ErrTOTPEnabled = errors.New("user: an authenticator app is already set up")
	// ErrNoTOTPEnrolment is a confirmation without an enrolment begun.
	ErrNoTOTPEnrolment = errors.New("user: no authenticator enrolment in progress")
	// ErrTwoFactorRequired refuses to remove the last second factor of a
	// person whom policy requires to have one.
	ErrTwoFactorRequired = errors.New("user: two-factor authentication is required for this account")
)

// TwoFactor holds the rules of second factors: authenticator apps
// (TOTP, RFC 6238), recovery codes and passkeys (see passkey.go), and the
// policy that requires them.
type TwoFactor struct {
	Store store.Store
	// KEK seals TOTP secrets at rest: unlike a password, a TOTP secret
	// must be read back to check a code, so it is encrypted, not hashed.
	KEK  *keys.KEK
	Now  func() time.Time
	Rand io.Reader // nil means crypto/rand
	// Issuer names Sapient in authenticator apps, for example
	// "Sapient (localhost)".
	Issuer string
	// WebAuthn is the relying party of passkeys (see NewWebAuthn); nil
	// when the issuer's host is an IP address, which cannot have them.
	WebAuthn *webauthn.WebAuthn
}

// totpOpts are the parameters of codes: RFC 6238's defaults, which every
// authenticator app supports (30 s steps, 6 digits, HMAC-SHA-1).
var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

const totpPeriod = 30

func (t *TwoFactor) rand() io.Reader {
	if t.Rand == nil {
		return rand.Reader
	}
	return t.Rand
}

func totpLabel(userID string) string { return "totp:" + userID }

// Enrolment is an authenticator app being set up: the secret, for people
// who type it, and the otpauth:// URL the QR code carries. Both are shown
// in the one response that creates them.
type Enrolment struct {
	Secret string
	URL    string
}

// BeginTOTP starts setting up an authenticator app for u: a new secret,
// stored sealed and unconfirmed until ConfirmTOTP. It replaces an
// enrolment not confirmed yet, and refuses when one is in use.
func (t *TwoFactor) BeginTOTP(ctx context.Context, u store.User) (Enrolment, error) {
	old, err := t.Store.GetTOTP(ctx, u.ID)
	if err == nil && !old.ConfirmedAt.IsZero() {
		return Enrolment{}, ErrTOTPEnabled
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return Enrolment{}, fmt.Errorf("user: begin totp: %w", err)
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: t.Issuer, AccountName: u.Email, Period: totpPeriod,
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1, Rand: t.rand()})
	if err != nil {
		return Enrolment{}, fmt.Errorf("user: begin totp: %w", err)
	}
	sealed, err := t.KEK.SealSecret(t.rand(), []byte(key.Secret()), totpLabel(u.ID))
	if err != nil {
		return Enrolment{}, fmt.Errorf("user: begin totp: %w", err)
	}
	now := t.Now().UTC().Truncate(time.Microsecond)
	if err := t.Store.PutTOTP(ctx, store.TOTP{UserID: u.ID, Secret: sealed, CreatedAt: now}); err != nil {
		return Enrolment{}, fmt.Errorf("user: begin totp: %w", err)
	}
	return Enrolment{Secret: key.Secret(), URL: key.URL()}, nil
}

// ConfirmTOTP turns on the authenticator app of u once code, typed from
// it, is right; it returns ten new recovery codes, shown this once. The
// authenticator, the codes' digests and the two_factor.enabled event are
// written in one transaction.
func (t *TwoFactor) ConfirmTOTP(ctx context.Context, actor access.Actor, u store.User, code string) ([]string, error) {
	codes, digests, err := t.newRecoveryCodes(u.ID)
	if err != nil {
		return nil, err
	}
	now := t.Now().UTC().Truncate(time.Microsecond)
	err = t.Store.InTx(ctx, func(tx store.Store) error {
		_, err := tx.UpdateTOTP(ctx, u.ID, func(o store.TOTP) (store.TOTP, error) {
			if !o.ConfirmedAt.IsZero() {
				return o, ErrTOTPEnabled
			}
			step, err := t.match(o, code, now)
			if err != nil {
				return o, err
			}
			o.ConfirmedAt, o.LastStep = now, step
			return o, nil
		})
		if errors.Is(err, store.ErrNotFound) {
			return ErrNoTOTPEnrolment
		} else if err != nil {
			return err
		}
		if err := tx.SetRecoveryCodes(ctx, u.ID, digests); err != nil {
			return err
		}
		return audit.Write(ctx, tx, actor, audit.TwoFactorEnabled, u.OrgID, u.Email, "authenticator app", now)
	})
	if errors.Is(err, ErrBadCode) || errors.Is(err, ErrTOTPEnabled) || errors.Is(err, ErrNoTOTPEnrolment) {
		return nil, err
	} else if err != nil {
		return nil, fmt.Errorf("user: confirm totp: %w", err)
	}
	return codes, nil
}

// match finds the time step whose code is code, within one step either
// side of now (RFC 6238 §5.2 allows for clock drift and typing time) and
// after the last step used (§5.2: a verifier must not accept the second
// attempt of a code after the first succeeded).
func (t *TwoFactor) match(o store.TOTP, code string, now time.Time) (int64, error) {
	code = strings.Join(strings.Fields(code), "")
	if len(code) != 6 || strings.Trim(code, "0123456789") != "" {
		return 0, ErrBadCode
	}
	secret, err := t.KEK.OpenSecret(o.Secret, totpLabel(o.UserID))
	if err != nil {
		return 0, fmt.Errorf("user: totp secret: %w", err)
	}
	cur := now.Unix() / totpPeriod
	for step := cur - 1; step <= cur+1; step++ {
		if step <= o.LastStep {
			continue
		}
		want, err := totp.GenerateCodeCustom(string(secret), time.Unix(step*totpPeriod, 0), totpOpts)
		if err != nil {
			return 0, fmt.Errorf("user: totp code: %w", err)
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return step, nil
		}
	}
	return 0, ErrBadCode
}

// VerifyCode checks a second factor typed by u at login or to disable
// two-factor: a code of the authenticator app, or a recovery code (which
// is then used up, with the two_factor.recovery_code_used event). A wrong
// code writes login.failed with the reason, never the code, and is
// ErrBadCode. method says what was used, for the audit trail.
func (t *TwoFactor) VerifyCode(ctx context.Context, actor access.Actor, u store.User, code string) (method string, err error) {
	now := t.Now().UTC().Truncate(time.Microsecond)
	if looksLikeRecoveryCode(code) {
		method = "with a recovery code"
		err = t.Store.InTx(ctx, func(tx store.Store) error {
			if err := tx.UseRecoveryCode(ctx, u.ID, recoveryDigest(u.ID, code), now); errors.Is(err, store.ErrNotFound) {
				return ErrBadCode
			} else if err != nil {
				return err
			}
			left, err := tx.CountRecoveryCodes(ctx, u.ID)
			if err != nil {
				return err
			}
			return audit.Write(ctx, tx, actor, audit.RecoveryCodeUsed, u.OrgID, u.Email, fmt.Sprintf("%d recovery codes left", left), now)
		})
	} else {
		method = "with an authenticator code"
		_, err = t.Store.UpdateTOTP(ctx, u.ID, func(o store.TOTP) (store.TOTP, error) {
			if o.ConfirmedAt.IsZero() {
				return o, ErrBadCode
			}
			step, err := t.match(o, code, now)
			o.LastStep = step
			return o, err
		})
		if errors.Is(err, store.ErrNotFound) {
			err = ErrBadCode
		}
	}
	if errors.Is(err, ErrBadCode) {
		if aerr := audit.Write(ctx, t.Store, actor, audit.LoginFailed, u.OrgID, u.Email, "wrong two-factor code", now); aerr != nil {
			return "", fmt.Errorf("user: verify code: %w", aerr)
		}
		return "", ErrBadCode
	} else if err != nil {
		return "", fmt.Errorf("user: verify code: %w", err)
	}
	return method, nil
}

// DisableTOTP turns off the authenticator app of u after code (from it, or
// a recovery code) proved the person holds a second factor. Without a
// passkey left, the recovery codes go too. It is refused when policy
// requires two-factor of u and no passkey remains.
func (t *TwoFactor) DisableTOTP(ctx context.Context, actor access.Actor, u store.User, code string) error {
	return t.disableTOTP(ctx, actor, u, func() error {
		_, err := t.VerifyCode(ctx, actor, u, code)
		return err
	})
}

// DisableTOTPWithPassword is DisableTOTP for a person who proves
// themselves with their password instead of a code; a wrong password is
// ErrBadLogin, with a login.failed event. It computes argon2id: callers
// throttle and bound it as a login.
func (t *TwoFactor) DisableTOTPWithPassword(ctx context.Context, actor access.Actor, u store.User, password string) error {
	return t.disableTOTP(ctx, actor, u, func() error {
		return t.checkPassword(ctx, actor, u, password, "wrong password to turn off two-factor")
	})
}

// checkPassword proves a signed-in person by their password; a wrong one
// (or none, for a person who has none) writes login.failed with why and
// is ErrBadLogin.
func (t *TwoFactor) checkPassword(ctx context.Context, actor access.Actor, u store.User, password, why string) error {
	fresh, err := t.Store.GetUser(ctx, u.ID)
	if err != nil {
		return err
	}
	if ok, _ := VerifyPassword(fresh.PasswordHash, password); !ok {
		if err := audit.Write(ctx, t.Store, actor, audit.LoginFailed, u.OrgID, u.Email, why, t.Now()); err != nil {
			return err
		}
		return ErrBadLogin
	}
	return nil
}

func (t *TwoFactor) disableTOTP(ctx context.Context, actor access.Actor, u store.User, prove func() error) error {
	st, err := t.Status(ctx, u)
	if err != nil {
		return err
	}
	if !st.TOTP {
		return ErrNoTOTPEnrolment
	}
	if st.Required && len(st.Passkeys) == 0 {
		return ErrTwoFactorRequired
	}
	if err := prove(); err != nil {
		return err
	}
	now := t.Now().UTC().Truncate(time.Microsecond)
	err = t.Store.InTx(ctx, func(tx store.Store) error {
		if err := tx.DeleteTOTP(ctx, u.ID); err != nil {
			return err
		}
		if len(st.Passkeys) == 0 {
			if err := tx.SetRecoveryCodes(ctx, u.ID, nil); err != nil {
				return err
			}
		}
		return audit.Write(ctx, tx, actor, audit.TwoFactorDisabled, u.OrgID, u.Email, "authenticator app", now)
	})
	if err != nil {
		return fmt.Errorf("user: disable totp: %w", err)
	}
	return nil
}

// Status is what second factors a person has, and whether policy
// requires one.
type Status struct {
	TOTP         bool
	Passkeys     []store.Passkey
	RecoveryLeft int
	Required     bool
}

// Enabled reports whether the person has a second factor.
func (s Status) Enabled() bool { return s.TOTP || len(s.Passkeys) > 0 }

// Status returns the second factors of u.
func (t *TwoFactor) Status(ctx context.Context, u store.User) (Status, error) {
	var st Status
	o, err := t.Store.GetTOTP(ctx, u.ID)
	if err == nil {
		st.TOTP = !o.ConfirmedAt.IsZero()
	} else if !errors.Is(err, store.ErrNotFound) {
		return Status{}, fmt.Errorf("user: two-factor status: %w", err)
	}
	if st.Passkeys, err = t.Store.ListPasskeys(ctx, u.ID); err != nil {
		return Status{}, fmt.Errorf("user: two-factor status: %w", err)
	}
	if st.RecoveryLeft, err = t.Store.CountRecoveryCodes(ctx, u.ID); err != nil {
		return Status{}, fmt.Errorf("user: two-factor status: %w", err)
	}
	if st.Required, err = t.Required(ctx, u); err != nil {
		return Status{}, err
	}
	return st, nil
}

// Required reports whether policy requires a second factor of u: the
// global policy (for Admins or for everyone) or that of u's organisation.
func (t *TwoFactor) Required(ctx context.Context, u store.User) (bool, error) {
	global, err := t.Store.TwoFactorPolicy(ctx, "")
	if err != nil {
		return false, fmt.Errorf("user: two-factor policy: %w", err)
	}
	if global == store.RequireEveryone || (global == store.RequireAdmins && u.Role == store.RoleAdmin) {
		return true, nil
	}
	if u.OrgID == "" {
		return false, nil
	}
	org, err := t.Store.TwoFactorPolicy(ctx, u.OrgID)
	if err != nil {
		return false, fmt.Errorf("user: two-factor policy: %w", err)
	}
	return org == store.RequireEveryone, nil
}

// PendingTOTP returns the enrolment of u not confirmed yet, to show its
// QR code again after a wrong first code.
func (t *TwoFactor) PendingTOTP(ctx context.Context, u store.User) (Enrolment, error) {
	o, err := t.Store.GetTOTP(ctx, u.ID)
	if err != nil {
		return Enrolment{}, fmt.Errorf("user: pending totp: %w", err)
	}
	if !o.ConfirmedAt.IsZero() {
		return Enrolment{}, ErrTOTPEnabled
	}
	secret, err := t.KEK.OpenSecret(o.Secret, totpLabel(u.ID))
	if err != nil {
		return Enrolment{}, fmt.Errorf("user: pending totp: %w", err)
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(string(secret))
	if err != nil {
		return Enrolment{}, fmt.Errorf("user: pending totp: %w", err)
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: t.Issuer, AccountName: u.Email, Period: totpPeriod,
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1, Secret: raw})
	if err != nil {
		return Enrolment{}, fmt.Errorf("user: pending totp: %w", err)
	}
	return Enrolment{Secret: key.Secret(), URL: key.URL()}, nil
}
