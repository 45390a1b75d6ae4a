package console_test

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/keys"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
)

// testKEK is a key-encryption key for the tests' TOTP secrets.
func testKEK(t *testing.T) *keys.KEK {
	t.Helper()
	k, err := keys.NewKEK(strings.Repeat("console test key ", 3))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var (
	totpSecret   = regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`)
	recoveryCode = regexp.MustCompile(`<li><code>([a-z2-7]{5}-[a-z2-7]{5})</code></li>`)
)

// code is the authenticator code of secret at t.
func code(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// wrong returns a six-digit code that differs from c in every digit.
func wrong(c string) string {
	b := []byte(c)
	for i := range b {
		b[i] = '0' + (b[i]-'0'+5)%10
	}
	return string(b)
}

// enrolTOTP sets up an authenticator app for the logged-in c and returns
// its secret and the recovery codes.
func enrolTOTP(t *testing.T, h *harness, c *client) (string, []string) {
	t.Helper()
	r := c.post("/account/two-factor/totp", url.Values{})
	m := totpSecret.FindStringSubmatch(r.Body)
	if r.Status != http.StatusOK || m == nil || !strings.Contains(r.Body, `src="data:image/png;base64,`) {
		t.Fatalf("begin enrolment: %d\n%s", r.Status, r.Body)
	}
	secret := m[1]
	r = c.post("/account/two-factor/totp/confirm", url.Values{"code": {code(t, secret, h.Clock.Now())}})
	codes := recoveryCode.FindAllStringSubmatch(r.Body, -1)
	if r.Status != http.StatusOK || len(codes) != 10 {
		t.Fatalf("confirm enrolment: %d, %d recovery codes\n%s", r.Status, len(codes), r.Body)
	}
	var out []string
	for _, c := range codes {
		out = append(out, c[1])
	}
	return secret, out
}

// halfLogin is an Admin with an authenticator app, logged in as a (a
// whole login) and half logged in as b (the password given, the code
// not yet).
func halfLogin(t *testing.T) (h *harness, a, b *client) {
	t.Helper()
	h = newHarness(t, storetest.Backends()[0])
	h.user(t, "admin@sapient.test", "")
	a = h.client(t)
	a.login("admin@sapient.test")
	enrolTOTP(t, h, a)
	b = h.client(t)
	passwordStep(t, b, "admin@sapient.test")
	return h, a, b
}

// passwordStep logs c in with the password and expects the second step.
func passwordStep(t *testing.T, c *client, email string) {
	t.Helper()
	r := c.post("/login", url.Values{"email": {email}, "password": {testPassword}})
	if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/login/two-factor" || c.Cookie == "" {
		t.Fatalf("password step: %d %s", r.Status, r.Header.Get("Location"))
	}
}

// TestTOTP enrols an authenticator app, logs in with its codes and with
// recovery codes, and refuses wrong, replayed and out-of-window codes.
func TestTOTP(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		h := newHarness(t, b)
		o := h.org(t, "Acme")
		u := h.user(t, "alice@acme.test", o.ID)
		alice := h.client(t)
		alice.login("alice@acme.test")
		if r := alice.get("/account/two-factor"); !strings.Contains(r.Body, "Set up authenticator app") {
			t.Fatalf("two-factor page: %d\n%s", r.Status, r.Body)
		}

		// A wrong first code keeps the enrolment, with its QR code.
		r := alice.post("/account/two-factor/totp", url.Values{})
		secret := totpSecret.FindStringSubmatch(r.Body)[1]
		r = alice.post("/account/two-factor/totp/confirm", url.Values{"code": {wrong(code(t, secret, h.Clock.Now()))}})
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "That code is incorrect") || !strings.Contains(r.Body, secret) {
			t.Fatalf("wrong first code: %d\n%s", r.Status, r.Body)
		}
		r = alice.post("/account/two-factor/totp/confirm", url.Values{"code": {code(t, secret, h.Clock.Now())}})
		codes := recoveryCode.FindAllStringSubmatch(r.Body, -1)
		if r.Status != http.StatusOK || len(codes) != 10 {
			t.Fatalf("confirm: %d, %d codes", r.Status, len(codes))
		}
		enrolStep := h.Clock.Now()

		// At rest: the secret sealed, the recovery codes digested.
		row, err := h.Store.GetTOTP(t.Context(), u.ID)
		if err != nil || strings.Contains(row.Secret, secret) || row.ConfirmedAt.IsZero() {
			t.Errorf("stored TOTP = %+v, %v", row, err)
		}
		var dump strings.Builder
		rows, err := h.Store.DB().QueryContext(t.Context(), `SELECT digest FROM recovery_codes`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var d string
			rows.Scan(&d)
			dump.WriteString(d)
		}
		rows.Close()
		for _, c := range codes {
			if strings.Contains(dump.String(), strings.ReplaceAll(c[1], "-", "")) || strings.Contains(dump.String(), c[1]) {
				t.Errorf("recovery code %s stored in plain text", c[1])
			}
		}

		// The password alone opens nothing.
		b2 := h.client(t)
		passwordStep(t, b2, "alice@acme.test")
		if r := b2.get("/credentials"); r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/login/two-factor" {
			t.Errorf("half login reaches /credentials: %d %s", r.Status, r.Header.Get("Location"))
		}
		if r := b2.post("/credentials", url.Values{"name": {"x"}}); r.Status != http.StatusUnauthorized {
			t.Errorf("half login posts /credentials: %d", r.Status)
		}
		if r := b2.get("/account/two-factor"); r.Status != http.StatusSeeOther {
			t.Errorf("half login reaches the two-factor page: %d", r.Status)
		}

		// The enrolment's code again (same step): replayed.
		second := func(c *client, code string) response {
			t.Helper()
			return c.post("/login/two-factor", url.Values{"code": {code}, "next": {"/usage"}})
		}
		if r := second(b2, code(t, secret, enrolStep)); r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "That code is incorrect") {
			t.Errorf("replayed code: %d", r.Status)
		}
		// Out of the window, two steps ahead or behind.
		h.Clock.Advance(30 * time.Second)
		for _, d := range []time.Duration{-90 * time.Second, 90 * time.Second} {
			if r := second(b2, code(t, secret, h.Clock.Now().Add(d))); r.Status != http.StatusUnprocessableEntity {
				t.Errorf("code %v away: %d", d, r.Status)
			}
		}
		good := code(t, secret, h.Clock.Now())
		if r := second(b2, good); r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/usage" || !b2.loggedIn() {
			t.Fatalf("right code: %d %s", r.Status, r.Header.Get("Location"))
		}
		// The same code in another browser at once: replayed.
		b3 := h.client(t)
		passwordStep(t, b3, "alice@acme.test")
		if r := second(b3, good); r.Status != http.StatusUnprocessableEntity || b3.loggedIn() {
			t.Errorf("code replayed in another browser: %d", r.Status)
		}

		// A recovery code works once, typed in capitals with spaces.
		rc := codes[0][1]
		if r := second(b3, " "+strings.ToUpper(rc)+" "); r.Status != http.StatusSeeOther || !b3.loggedIn() {
			t.Fatalf("recovery code: %d", r.Status)
		}
		b4 := h.client(t)
		passwordStep(t, b4, "alice@acme.test")
		if r := second(b4, rc); r.Status != http.StatusUnprocessableEntity || b4.loggedIn() {
			t.Errorf("used recovery code again: %d", r.Status)
		}

		events, _ := h.Store.ListAudit(t.Context(), store.AuditFilter{})
		var actions []string
		for _, e := range events {
			actions = append(actions, e.Action+":"+e.Detail)
			for _, secretish := range []string{secret, good, rc} {
				if strings.Contains(e.Detail, secretish) || strings.Contains(e.Target, secretish) {
					t.Errorf("audit event %+v holds a secret", e)
				}
			}
		}
		all := strings.Join(actions, "\n")
		for _, want := range []string{"two_factor.enabled:authenticator app", "login.succeeded:with an authenticator code",
			"login.succeeded:with a recovery code", "two_factor.recovery_code_used:9 recovery codes left", "login.failed:wrong two-factor code"} {
			if !strings.Contains(all, want) {
				t.Errorf("audit trail lacks %q:\n%s", want, all)
			}
		}

		// New recovery codes replace the old ones, once the person
		// proves themselves again: the session alone is not enough.
		for _, form := range []url.Values{{}, {"code": {"123456"}}, {"password": {"not her password at all"}}} {
			if r := alice.post("/account/two-factor/recovery-codes", form); r.Status != http.StatusUnprocessableEntity || len(recoveryCode.FindAllStringSubmatch(r.Body, -1)) != 0 {
				t.Fatalf("new recovery codes with %v: %d", form, r.Status)
			}
		}
		b7 := h.client(t)
		passwordStep(t, b7, "alice@acme.test")
		if r := second(b7, codes[2][1]); r.Status != http.StatusSeeOther {
			t.Fatalf("after refused attempts an old recovery code no longer works: %d", r.Status)
		}
		r = alice.post("/account/two-factor/recovery-codes", url.Values{"password": {testPassword}})
		fresh := recoveryCode.FindAllStringSubmatch(r.Body, -1)
		if r.Status != http.StatusOK || len(fresh) != 10 {
			t.Fatalf("new recovery codes: %d, %d codes", r.Status, len(fresh))
		}
		b6 := h.client(t)
		passwordStep(t, b6, "alice@acme.test")
		if r := second(b6, codes[1][1]); r.Status != http.StatusUnprocessableEntity {
			t.Errorf("an old recovery code after new ones: %d", r.Status)
		}
		if r := second(b6, fresh[0][1]); r.Status != http.StatusSeeOther {
			t.Errorf("a new recovery code: %d", r.Status)
		}

		// Turning it off needs a code.
		if r := alice.post("/account/two-factor/totp/disable", url.Values{"code": {"123"}}); r.Status != http.StatusUnprocessableEntity {
			t.Errorf("disable with a wrong code: %d", r.Status)
		}
		h.Clock.Advance(30 * time.Second)
		if r := alice.post("/account/two-factor/totp/disable", url.Values{"code": {code(t, secret, h.Clock.Now())}}); r.Status != http.StatusSeeOther {
			t.Fatalf("disable: %d\n%s", r.Status, r.Body)
		}
		if n, _ := h.Store.CountRecoveryCodes(t.Context(), u.ID); n != 0 {
			t.Errorf("%d recovery codes left after turning two-factor off", n)
		}
		b5 := h.client(t)
		b5.login("alice@acme.test") // the password alone again

		// Or with the password instead of a code.
		enrolTOTP(t, h, alice)
		if r := alice.post("/account/two-factor/totp/disable", url.Values{"password": {"not the password"}}); r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "That password is incorrect.") {
			t.Errorf("disable with a wrong password: %d", r.Status)
		}
		if st, err := h.Store.GetTOTP(t.Context(), u.ID); err != nil || st.ConfirmedAt.IsZero() {
			t.Fatalf("a wrong password turned two-factor off: %+v, %v", st, err)
		}
		if r := alice.post("/account/two-factor/totp/disable", url.Values{"password": {testPassword}}); r.Status != http.StatusSeeOther {
			t.Errorf("disable with the password: %d", r.Status)
		}
		if _, err := h.Store.GetTOTP(t.Context(), u.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("authenticator after disabling with the password: %v", err)
		}
	})
}

// TestSecondFactorThrottle slows down code guesses like password guesses.
func TestSecondFactorThrottle(t *testing.T) {
	t.Parallel()
	h, _, b := halfLogin(t)
	var last response
	for i := 0; i < 6; i++ {
		last = b.post("/login/two-factor", url.Values{"code": {"000000"}})
	}
	if last.Status != http.StatusTooManyRequests || last.Header.Get("Retry-After") == "" {
		t.Errorf("sixth wrong code: %d, want 429 with Retry-After", last.Status)
	}
	// The password is throttled with the codes: one budget per account.
	c := h.client(t)
	if r := c.post("/login", url.Values{"email": {"admin@sapient.test"}, "password": {testPassword}}); r.Status != http.StatusTooManyRequests {
		t.Errorf("password after six wrong codes: %d, want 429", r.Status)
	}
	// After the wait, the right password does not open a fresh budget
	// of guesses: one more wrong code, and the next must wait again.
	h.Clock.Advance(time.Hour)
	passwordStep(t, c, "admin@sapient.test")
	h.Clock.Advance(time.Minute)
	if r := c.post("/login/two-factor", url.Values{"code": {"000000"}}); r.Status != http.StatusUnprocessableEntity {
		t.Errorf("first guess after the wait: %d, want 422", r.Status)
	}
	if r := c.post("/login/two-factor", url.Values{"code": {"000000"}}); r.Status != http.StatusTooManyRequests {
		t.Errorf("second guess after the wait: %d, want 429", r.Status)
	}
}

// TestResetLinkKeepsSecondFactor: a password set through a one-time link
// proves the email, not the second factor: a person who has one is asked
// for it before anything opens.
func TestResetLinkKeepsSecondFactor(t *testing.T) {
	t.Parallel()
	h := newHarness(t, storetest.Backends()[0])
	h.user(t, "root@sapient.test", "")
	u := h.user(t, "ops@sapient.test", "")
	a := h.client(t)
	a.login("ops@sapient.test")
	secret, _ := enrolTOTP(t, h, a)

	_, token, err := h.Users.ResetLink(t.Context(), access.CLI, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	b := h.client(t)
	const next = "a new password of some length"
	r := b.post("/link", url.Values{"token": {token}, "password": {next}, "confirm": {next}})
	if r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login/two-factor") {
		t.Fatalf("password set by link: %d %s", r.Status, r.Header.Get("Location"))
	}
	if b.loggedIn() {
		t.Fatal("a reset link skipped the second factor")
	}
	h.Clock.Advance(30 * time.Second)
	r = b.post("/login/two-factor", url.Values{"code": {code(t, secret, h.Clock.Now())}, "next": {"/?password=set"}})
	if r.Status != http.StatusSeeOther || !b.loggedIn() {
		t.Errorf("second factor after the link: %d", r.Status)
	}
}
