package user_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/keys"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
	"sapient.dev/sapient/internal/user"
)

// enrolled returns a TwoFactor on a fresh store of b whose clock the test
// sets through *now, and an Admin with a confirmed authenticator of the
// returned secret.
func enrolled(t *testing.T, b storetest.Backend, now *time.Time) (*user.TwoFactor, store.User, string) {
	t.Helper()
	s := storetest.New(t, b)
	kek, err := keys.NewKEK(strings.Repeat("totp test key ", 3))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	tf := &user.TwoFactor{Store: s, KEK: kek, Issuer: "Sapient (test)", Now: func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return *now
	}}
	u := store.User{ID: "usr_1", Email: "ada@example.com", PasswordHash: "-", Role: store.RoleAdmin, CreatedAt: *now, PasswordChangedAt: *now}
	if err := s.CreateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	e, err := tf.BeginTOTP(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := totp.GenerateCode(e.Secret, *now)
	if _, err := tf.ConfirmTOTP(t.Context(), access.CLI, u, c); err != nil {
		t.Fatal(err)
	}
	return tf, u, e.Secret
}

// TestTOTPWindow accepts codes of one 30-second step either side of the
// clock (RFC 6238 §5.2) and refuses those further away.
func TestTOTPWindow(t *testing.T) {
	for _, tc := range []struct {
		offset time.Duration
		ok     bool
	}{
		{-60 * time.Second, false}, {-30 * time.Second, true}, {0, true}, {30 * time.Second, true}, {60 * time.Second, false},
	} {
		t.Run(tc.offset.String(), func(t *testing.T) {
			now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
			tf, u, secret := enrolled(t, storetest.Backends()[0], &now)
			now = now.Add(5 * time.Minute) // well after the enrolment's step
			c, _ := totp.GenerateCode(secret, now.Add(tc.offset))
			_, err := tf.VerifyCode(t.Context(), access.CLI, u, c)
			if tc.ok != (err == nil) {
				t.Errorf("code %v from now: %v", tc.offset, err)
			}
			if err != nil && !errors.Is(err, user.ErrBadCode) {
				t.Errorf("refusal is %v, want ErrBadCode", err)
			}
		})
	}
}

// TestTOTPNoReplay: of several logins racing with one code, on every
// backend, exactly one gets in; and a code of an earlier step than the
// last one used is refused even within the window.
func TestTOTPNoReplay(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
		tf, u, secret := enrolled(t, b, &now)
		now = now.Add(time.Minute)
		c, _ := totp.GenerateCode(secret, now)
		var (
			wg sync.WaitGroup
			mu sync.Mutex
			ok int
		)
		for range 8 {
			wg.Go(func() {
				if _, err := tf.VerifyCode(t.Context(), access.CLI, u, c); err == nil {
					mu.Lock()
					ok++
					mu.Unlock()
				} else if !errors.Is(err, user.ErrBadCode) {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if ok != 1 {
			t.Errorf("%d of 8 racing logins got in with one code, want 1", ok)
		}
		earlier, _ := totp.GenerateCode(secret, now.Add(-30*time.Second))
		if _, err := tf.VerifyCode(t.Context(), access.CLI, u, earlier); !errors.Is(err, user.ErrBadCode) {
			t.Errorf("code of the step before the last used: %v, want ErrBadCode", err)
		}
	})
}
