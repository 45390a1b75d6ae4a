package console_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"sapient.dev/sapient/internal/audit"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/user"
)

// TestLoginThrottle: failed logins slow down further attempts on the same
// account and from the same address, with the same answer whether or not
// the email exists.
func TestLoginThrottle(t *testing.T) {
	h := newHarness(t, sqlite)
	o := h.org(t, "Acme")
	h.user(t, "alice@acme.test", o.ID)
	login := func(email, password string) response {
		t.Helper()
		return h.client(t).post("/login", url.Values{"email": {email}, "password": {password}})
	}
	const wrong = "not her password at all"

	for _, email := range []string{"alice@acme.test", "nobody@acme.test"} {
		t.Run(email, func(t *testing.T) {
			for i := range user.DefaultAccountFree {
				// Case does not matter: it is one account.
				typed := email
				if i%2 == 1 {
					typed = strings.ToUpper(email)
				}
				if r := login(typed, wrong); r.Status != http.StatusUnprocessableEntity {
					t.Fatalf("failure %d = %d, want 422", i+1, r.Status)
				}
			}
			// Now even the right password waits, and the answer is the
			// same for a known and an unknown email.
			r := login(email, testPassword)
			if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "1" ||
				!strings.Contains(r.Body, "Too many attempts. Try again in 1 second.") || strings.Contains(r.Body, "Email or password is incorrect.") {
				t.Fatalf("attempt after %d failures = %d (Retry-After %q)\n%s", user.DefaultAccountFree, r.Status, r.Header.Get("Retry-After"), r.Body)
			}
			if !strings.Contains(r.Body, `value="`+email+`"`) || strings.Contains(r.Body, testPassword) {
				t.Error("the email is lost or the password sent back")
			}
			h.Clock.Advance(time.Second)
			if r := login(email, wrong); r.Status != http.StatusUnprocessableEntity {
				t.Fatalf("after the delay = %d, want the password checked", r.Status)
			}
			if r := login(email, wrong); r.Status != http.StatusTooManyRequests || !strings.Contains(r.Body, "Try again in 2 seconds.") || r.Header.Get("Retry-After") != "2" {
				t.Fatalf("the next delay = %d %q, want 2 seconds", r.Status, r.Header.Get("Retry-After"))
			}
			h.Clock.Advance(2 * time.Second)
		})
	}
	// Throttled attempts never reach the store: no audit event for them.
	failed, err := h.Store.ListAudit(t.Context(), store.AuditFilter{Action: audit.LoginFailed})
	if err != nil {
		t.Fatal(err)
	}
	if want := 2 * (user.DefaultAccountFree + 1); len(failed) != want {
		t.Errorf("%d login.failed events, want %d (one per checked password)", len(failed), want)
	}
	// The account works again once its delay has passed, and a success
	// starts it afresh.
	c := h.client(t)
	c.login("alice@acme.test")
	for range user.DefaultAccountFree - 1 {
		login("alice@acme.test", wrong)
	}
	if r := login("alice@acme.test", wrong); r.Status != http.StatusUnprocessableEntity {
		t.Errorf("after a success the account is still slowed down: %d", r.Status)
	}
}

// TestLoginThrottlePerAddress: one address guessing across many accounts
// is slowed down too.
func TestLoginThrottlePerAddress(t *testing.T) {
	h := newHarness(t, sqlite)
	for i := range user.DefaultIPFree {
		r := h.client(t).post("/login", url.Values{"email": {fmt.Sprintf("user%d@acme.test", i)}, "password": {"guess guess guess"}})
		if r.Status != http.StatusUnprocessableEntity {
			t.Fatalf("guess %d = %d", i+1, r.Status)
		}
	}
	r := h.client(t).post("/login", url.Values{"email": {"fresh@acme.test"}, "password": {"guess guess guess"}})
	if r.Status != http.StatusTooManyRequests || !strings.Contains(r.Body, "Too many attempts. Try again in 1 second.") {
		t.Errorf("a new account from the same address = %d", r.Status)
	}
}
