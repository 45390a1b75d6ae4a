package console_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
	"sapient.dev/sapient/internal/user"
)

const (
	firefoxUA = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"
	chromeUA  = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36"
)

var sessionHandle = regexp.MustCompile(`name="session" value="([0-9a-f]+)"`)

// loginAs logs c in with a browser's User-Agent.
func (c *client) loginAs(email, ua string) {
	c.t.Helper()
	r := c.do(http.MethodPost, "/login", url.Values{"email": {email}, "password": {testPassword}}, "User-Agent", ua)
	if r.Status != http.StatusSeeOther || c.Cookie == "" {
		c.t.Fatalf("login %s: %d\n%s", email, r.Status, r.Body)
	}
}

// TestSessionsPage lists a person's sessions with browser and address,
// ends one and then all others, and refuses to end a session of someone
// else exactly like an unknown one.
func TestSessionsPage(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		h := newHarness(t, b)
		o := h.org(t, "Acme")
		h.user(t, "alice@acme.test", o.ID)
		h.user(t, "bob@acme.test", o.ID)
		a1, a2, a3, bob := h.client(t), h.client(t), h.client(t), h.client(t)
		a1.loginAs("alice@acme.test", firefoxUA)
		a2.loginAs("alice@acme.test", chromeUA)
		a3.loginAs("alice@acme.test", chromeUA)
		bob.loginAs("bob@acme.test", chromeUA)

		page := a1.get("/account/sessions")
		if page.Status != http.StatusOK {
			t.Fatalf("GET /account/sessions: %d", page.Status)
		}
		for _, want := range []string{"Firefox on Linux", "Chrome on macOS", "This session", "127.0.0.1", "End all other sessions"} {
			if !strings.Contains(page.Body, want) {
				t.Errorf("sessions page lacks %q", want)
			}
		}
		if strings.Count(page.Body, `<th scope="row"`) != 3 {
			t.Errorf("sessions page lists %d sessions, want 3 (none of bob's)", strings.Count(page.Body, `<th scope="row"`))
		}
		handles := sessionHandle.FindAllStringSubmatch(page.Body, -1)
		if len(handles) != 2 {
			t.Fatalf("%d End session buttons, want 2 (not for this session)", len(handles))
		}

		// Bob cannot end Alice's session, nor Alice Bob's; a forged
		// handle answers the same.
		for _, tc := range []struct {
			name   string
			c      *client
			handle string
		}{
			{"another user's session", bob, handles[0][1]},
			{"forged handle", a1, strings.Repeat("0", 32)},
			{"empty handle", a1, ""},
		} {
			r := tc.c.post("/account/sessions/end", url.Values{"session": {tc.handle}})
			if r.Status != http.StatusNotFound || !strings.Contains(r.Body, "not one of yours") {
				t.Errorf("%s: %d\n%s", tc.name, r.Status, r.Body)
			}
		}
		if !a2.loggedIn() || !a3.loggedIn() || !bob.loggedIn() {
			t.Fatal("a refused end changed a session")
		}

		// a1 ends one session (whichever is first in its list).
		if r := a1.post("/account/sessions/end", url.Values{"session": {handles[0][1]}}); r.Status != http.StatusSeeOther {
			t.Fatalf("end session: %d\n%s", r.Status, r.Body)
		}
		if a2.loggedIn() == a3.loggedIn() {
			t.Errorf("ending one session: a2 %v, a3 %v; want exactly one logged out", a2.loggedIn(), a3.loggedIn())
		}
		if r := a1.post("/account/sessions/end-others", url.Values{}); r.Status != http.StatusSeeOther {
			t.Fatalf("end others: %d", r.Status)
		}
		if a2.loggedIn() || a3.loggedIn() || !a1.loggedIn() || !bob.loggedIn() {
			t.Errorf("after ending others: a1 %v a2 %v a3 %v bob %v", a1.loggedIn(), a2.loggedIn(), a3.loggedIn(), bob.loggedIn())
		}
		events, err := h.Store.ListAudit(t.Context(), store.AuditFilter{Action: "session.ended"})
		if err != nil || len(events) != 1 || events[0].ActorLabel != "alice@acme.test" {
			t.Errorf("session.ended events = %+v, %v", events, err)
		}
		// Ending this very session from the list is refused: log out.
		own := regexp.MustCompile(`This session`).MatchString(a1.get("/account/sessions").Body)
		if !own {
			t.Error("current session not marked")
		}
	})
}

// TestBrowserSummary names browsers and systems from User-Agent headers.
func TestBrowserSummary(t *testing.T) {
	t.Parallel()
	for ua, want := range map[string]string{
		firefoxUA: "Firefox on Linux",
		chromeUA:  "Chrome on macOS",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36 Edg/142.0.0.0":           "Edge on Windows",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1": "Safari on iOS",
		"curl/8.5.0":         "curl",
		"":                   "Unknown browser",
		"Go-http-client/1.1": "Go-http-client",
	} {
		if got := user.Browser(ua); got != want {
			t.Errorf("Browser(%q) = %q, want %q", ua, got, want)
		}
	}
}
