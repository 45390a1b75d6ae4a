package console_test

import (
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"sapient.dev/sapient/internal/console"
	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/scope"
	"sapient.dev/sapient/internal/store/storetest"
	"sapient.dev/sapient/internal/user"
)

// newHarnessConsole is newHarness that also returns the console, for
// tests that hold its password-check slots.
func newHarnessConsole(t *testing.T) (*harness, *console.Console) {
	t.Helper()
	st := storetest.New(t, sqlite)
	clk := &clock{now: time.Now().UTC().Truncate(time.Second)}
	if err := scope.EnsureBuiltin(t.Context(), st, clk.Now()); err != nil {
		t.Fatal(err)
	}
	h := &harness{
		Store: st,
		Users: &user.Service{Store: st, Now: clk.Now, Rand: rand.Reader, Password: user.CheapPasswordParams},
		Creds: &credential.Service{Store: st, Now: clk.Now, Rand: rand.Reader},
		Clock: clk,
	}
	mux := http.NewServeMux()
	srv := httptest.NewUnstartedServer(mux)
	h.URL = "http://" + srv.Listener.Addr().String()
	c, err := console.New(console.Config{
		Store: st, Credentials: h.Creds, Users: h.Users, Now: clk.Now, Issuer: h.URL,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	c.Register(mux)
	srv.Start()
	t.Cleanup(srv.Close)
	return h, c
}

// TestPasswordChangeThrottled: guessing the current password on the
// change password page goes through the login throttle: after the free
// failures even the right password waits (429 with Retry-After), logins
// to the account wait too, and once the delay has passed the change works.
func TestPasswordChangeThrottled(t *testing.T) {
	h := newHarness(t, sqlite)
	o := h.org(t, "Acme")
	h.user(t, "alice@acme.test", o.ID)
	stolen := h.client(t)
	stolen.login("alice@acme.test")
	const next = "a whole new passphrase"
	change := func(current string) response {
		t.Helper()
		return stolen.post("/account/password", url.Values{"current_password": {current}, "password": {next}, "confirm": {next}})
	}
	// A new password the policy refuses costs no guess.
	for range 2 * user.DefaultAccountFree {
		if r := stolen.post("/account/password", url.Values{"current_password": {"guess guess guess"}, "password": {"short"}, "confirm": {"short"}}); r.Status != http.StatusUnprocessableEntity ||
			!strings.Contains(r.Body, "Password must be at least") {
			t.Fatalf("short new password = %d", r.Status)
		}
	}
	for i := range user.DefaultAccountFree {
		if r := change("guess number " + string(rune('a'+i)) + " wrong"); r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "Current password is incorrect.") {
			t.Fatalf("guess %d = %d", i+1, r.Status)
		}
	}
	r := change(testPassword)
	if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "1" || !strings.Contains(r.Body, "Too many attempts. Try again in 1 second.") {
		t.Fatalf("after %d wrong guesses = %d (Retry-After %q), want 429", user.DefaultAccountFree, r.Status, r.Header.Get("Retry-After"))
	}
	if r := h.client(t).post("/login", url.Values{"email": {"alice@acme.test"}, "password": {testPassword}}); r.Status != http.StatusTooManyRequests {
		t.Errorf("a login to the account after the guesses = %d, want 429 (one throttle)", r.Status)
	}
	h.Clock.Advance(time.Second)
	if r := change(testPassword); r.Status != http.StatusSeeOther {
		t.Fatalf("right password after the delay = %d\n%s", r.Status, r.Body)
	}
	// The success started the account afresh.
	if r := h.client(t).post("/login", url.Values{"email": {"alice@acme.test"}, "password": {next}}); r.Status != http.StatusSeeOther {
		t.Errorf("login with the new password = %d", r.Status)
	}
}

// TestPasswordChangeWaitsForHashing: the password change computes argon2id
// (64 MiB) within the same bound as logins, so that a burst of changes
// cannot exhaust memory: while every slot is taken it waits, and it
// proceeds once one is free.
func TestPasswordChangeWaitsForHashing(t *testing.T) {
	h, c := newHarnessConsole(t)
	o := h.org(t, "Acme")
	h.user(t, "alice@acme.test", o.ID)
	alice := h.client(t)
	alice.login("alice@acme.test")
	const next = "a whole new passphrase"

	release := c.HoldPasswordChecks()
	done := make(chan response, 1)
	go func() {
		done <- alice.post("/account/password", url.Values{"current_password": {testPassword}, "password": {next}, "confirm": {next}})
	}()
	// Unbounded, the change answers after two argon2id computations; here
	// it must wait for a slot, in passwordChange itself, and not answer.
	deadline := time.Now().Add(30 * time.Second)
	for !blockedIn("console.(*Console).passwordChange") {
		select {
		case r := <-done:
			release()
			t.Fatalf("the password change ran while every password-check slot was taken: %d", r.Status)
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			release()
			t.Fatal("the password change neither answered nor waited for a slot")
		}
	}
	release()
	select {
	case r := <-done:
		if r.Status != http.StatusSeeOther {
			t.Fatalf("change = %d\n%s", r.Status, r.Body)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the password change never ran after the slots were freed")
	}
}

// blockedIn reports whether a goroutine is parked in a select or a channel
// operation waiting for a turn of the password-check queue
// (user.(*LoginQueue).Enter), called from the function fn (a suffix of its
// qualified name).
func blockedIn(fn string) bool {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range strings.Split(string(buf), "\n\n") {
		lines := strings.Split(g, "\n")
		if len(lines) < 2 || !(strings.Contains(lines[0], "[select") || strings.Contains(lines[0], "[chan ")) {
			continue
		}
		// Skip the runtime's frames (two lines each: function, file) to
		// the first of the program's: the queue's Enter, called by fn.
		i := 1
		for i < len(lines) && strings.HasPrefix(lines[i], "runtime.") {
			i += 2
		}
		if i+2 < len(lines) && strings.Contains(lines[i], "user.(*LoginQueue).Enter(") && strings.Contains(lines[i+2], fn+"(") {
			return true
		}
	}
	return false
}
