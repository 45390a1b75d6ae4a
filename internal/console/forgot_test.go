package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store"
)

// TestForgotPassword: the login page links to Forgot password?; the form
// answers the same whether or not the email exists and mails a reset link
// only to a user who exists and is not disabled; requests go through the
// login throttle.
func TestForgotPassword(t *testing.T) {
	smtpd, opt := withMail(t)
	env := servertest.New(t, sqlite, opt)
	acme := env.Org(t, "Acme")
	env.User(t, "ann@acme.test", testPassword, store.RoleCustomer, acme.ID)
	c := &client{t: t, base: env.URL, http: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}

	if r := c.get("/login"); !strings.Contains(r.Body, `href="/forgot"`) || !strings.Contains(r.Body, "Forgot password?") {
		t.Error("the login page has no Forgot password? link")
	}
	if r := c.get("/forgot"); r.Status != http.StatusOK || !strings.Contains(r.Body, "Send reset link") {
		t.Fatalf("/forgot = %d", r.Status)
	}
	known := c.post("/forgot", url.Values{"email": {"ann@acme.test"}})
	unknown := c.post("/forgot", url.Values{"email": {"nobody@acme.test"}})
	if known.Status != http.StatusOK || unknown.Status != known.Status ||
		strings.ReplaceAll(unknown.Body, "nobody@acme.test", "E") != strings.ReplaceAll(known.Body, "ann@acme.test", "E") {
		t.Errorf("answers differ: %d vs %d", known.Status, unknown.Status)
	}
	msg := smtpd.Wait(t, "ann@acme.test", "Reset")
	if !strings.HasPrefix(msg.Link(), env.URL+"/link?token=") {
		t.Errorf("reset mail link %q", msg.Link())
	}
	for _, m := range smtpd.Messages() {
		if m.To == "nobody@acme.test" {
			t.Error("a mail went to an unknown address")
		}
	}
	if r := c.post("/forgot", url.Values{"email": {"not an email"}}); r.Status != http.StatusUnprocessableEntity {
		t.Errorf("bad email = %d", r.Status)
	}
	// The throttle: repeated requests for one email are slowed down.
	throttled := false
	for range 30 {
		if r := c.post("/forgot", url.Values{"email": {"ann@acme.test"}}); r.Status == http.StatusTooManyRequests {
			throttled = r.Header.Get("Retry-After") != "" && strings.Contains(r.Body, "Too many attempts")
			break
		}
	}
	if !throttled {
		t.Error("30 reset requests for one email were never throttled")
	}
}
