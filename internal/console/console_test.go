package console_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/console"
	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
	"sapient.dev/sapient/internal/user"
)

// secretRE finds a Sapient secret anywhere in a page.
var secretRE = regexp.MustCompile(credential.SecretPrefix + `[a-z2-7]{20,}`)

func TestNewChecksConfig(t *testing.T) {
	h := newHarness(t, sqlite)
	good := console.Config{Store: h.Store, Credentials: h.Creds, Users: h.Users, Issuer: "https://sapient.example"}
	tests := []struct {
		name   string
		change func(*console.Config)
	}{
		{"no store", func(c *console.Config) { c.Store = nil }},
		{"no credentials", func(c *console.Config) { c.Credentials = nil }},
		{"relative issuer", func(c *console.Config) { c.Issuer = "/sapient" }},
		{"other scheme", func(c *console.Config) { c.Issuer = "ftp://sapient.example" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.change(&cfg)
			if _, err := console.New(cfg); err == nil {
				t.Error("New accepted it")
			}
		})
	}
	if _, err := console.New(good); err != nil {
		t.Errorf("New(good) = %v", err)
	}
}

func TestSecurityHeaders(t *testing.T) {
	h := newHarness(t, sqlite)
	o := h.org(t, "Acme")
	h.user(t, "alice@acme.test", o.ID)
	c := h.client(t)
	c.login("alice@acme.test")
	tests := []struct {
		name, method, path string
		header             []string
	}{
		{"login page", "GET", "/login", nil},
		{"home", "GET", "/", nil},
		{"credentials", "GET", "/credentials", nil},
		{"static file", "GET", "/static/app.js", nil},
		{"cross-origin refusal", "POST", "/credentials", []string{"Sec-Fetch-Site", "cross-site"}},
		{"error page", "GET", "/credentials/sapci_nope/revoke", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.do(tt.method, tt.path, url.Values{}, tt.header...)
			csp := r.Header.Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "form-action 'self'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("CSP %q lacks %q", csp, want)
				}
			}
			if strings.Contains(csp, "unsafe-inline") {
				t.Errorf("CSP allows inline code: %q", csp)
			}
			for k, want := range map[string]string{
				"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
			} {
				if got := r.Header.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

// TestPagesHaveNoInlineCode: the CSP forbids inline script and style, so
// a template that used them would break silently in the browser.
func TestPagesHaveNoInlineCode(t *testing.T) {
	h := newHarness(t, sqlite)
	h.org(t, "Acme")
	h.user(t, "root@sapient.test", "")
	c := h.client(t)
	inline := regexp.MustCompile(`(?i)<script>|<script [^>]*>[^<]|<style|\sstyle=|\son[a-z]+=`)
	pages := []string{"/login", "/", "/credentials", "/credentials/new", "/account/password", "/admin/customers", "/admin/users", "/admin/scopes",
		"/usage", "/usage?period=30d", "/admin/audit"}
	for i, p := range pages {
		if i == 1 {
			c.login("root@sapient.test")
		}
		r := c.get(p)
		if r.Status != http.StatusOK {
			t.Errorf("GET %s = %d", p, r.Status)
			continue
		}
		if m := inline.FindString(r.Body); m != "" {
			t.Errorf("GET %s has inline code %q", p, m)
		}
	}
}

func TestSessionCookie(t *testing.T) {
	tests := []struct {
		issuer     string
		name       string
		wantSecure bool
	}{
		{"http://localhost:8080", "sapient_session", false},
		{"https://sapient.example", "__Host-sapient_session", true},
	}
	for _, tt := range tests {
		t.Run(tt.issuer, func(t *testing.T) {
			h := newHarness(t, sqlite)
			h.user(t, "root@sapient.test", "")
			c, err := console.New(console.Config{Store: h.Store, Credentials: h.Creds, Users: h.Users, Now: h.Clock.Now, Issuer: tt.issuer})
			if err != nil {
				t.Fatal(err)
			}
			mux := http.NewServeMux()
			c.Register(mux)
			req := httptest.NewRequest("POST", tt.issuer+"/login", strings.NewReader("email=root%40sapient.test&password="+url.QueryEscape(testPassword)))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, req)
			cookies := rec.Result().Cookies()
			if rec.Code != http.StatusSeeOther || len(cookies) != 1 {
				t.Fatalf("login = %d with cookies %v", rec.Code, cookies)
			}
			ck := cookies[0]
			if ck.Name != tt.name || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Secure != tt.wantSecure || ck.Domain != "" {
				t.Errorf("cookie = %+v", ck)
			}
			if ck.MaxAge != 0 || !ck.Expires.IsZero() {
				t.Errorf("cookie outlives the browser: %+v", ck)
			}
			// The store keeps only the digest of the cookie value.
			if _, err := h.Store.GetSession(t.Context(), ck.Value); err == nil {
				t.Error("the session is stored under the cookie value itself")
			}
			if _, err := h.Store.GetSession(t.Context(), user.SessionID(ck.Value)); err != nil {
				t.Errorf("session not stored under its digest: %v", err)
			}
		})
	}
}

func TestLogin(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		h := newHarness(t, b)
		o := h.org(t, "Acme")
		h.user(t, "alice@acme.test", o.ID)

		t.Run("failures say the same", func(t *testing.T) {
			for _, form := range []url.Values{
				{"email": {"alice@acme.test"}, "password": {"wrong password!"}},
				{"email": {"nobody@acme.test"}, "password": {testPassword}},
				{"email": {"alice@acme.test"}, "password": {""}},
			} {
				c := h.client(t)
				r := c.post("/login", form)
				if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "Email or password is incorrect.") || c.Cookie != "" {
					t.Errorf("login %v = %d, cookie %q", form, r.Status, c.Cookie)
				}
				if strings.Contains(r.Body, form.Get("password")) && form.Get("password") != "" {
					t.Error("the password is echoed in the page")
				}
			}
		})

		t.Run("a new session at every login", func(t *testing.T) {
			c := h.client(t)
			c.Cookie = "planted-by-an-attacker"
			c.login("alice@acme.test")
			if c.Cookie == "planted-by-an-attacker" {
				t.Fatal("login kept the planted session token")
			}
			first := c.Cookie
			c.login("alice@acme.test")
			old := h.client(t)
			old.Cookie = first
			if old.loggedIn() {
				t.Error("the session from before the second login still works")
			}
			if !c.loggedIn() {
				t.Error("the new session does not work")
			}
		})

		t.Run("next is kept only when local", func(t *testing.T) {
			r := h.client(t).get("/credentials?org=x")
			if loc := r.Header.Get("Location"); r.Status != http.StatusSeeOther || loc != "/login?next=%2Fcredentials%3Forg%3Dx" {
				t.Fatalf("GET /credentials logged out = %d %q", r.Status, loc)
			}
			for next, want := range map[string]string{
				"/credentials?org=x": "/credentials?org=x",
				"//evil.example/":    "/",
				"/\\evil.example":    "/",
				"https://evil.test/": "/",
				"/\t/evil.example":   "/",
			} {
				c := h.client(t)
				r := c.post("/login", url.Values{"email": {"alice@acme.test"}, "password": {testPassword}, "next": {next}})
				if got := r.Header.Get("Location"); got != want {
					t.Errorf("next %q: redirected to %q, want %q", next, got, want)
				}
			}
		})

		t.Run("log out ends the session", func(t *testing.T) {
			c := h.client(t)
			c.login("alice@acme.test")
			token := c.Cookie
			if r := c.post("/logout", nil); r.Status != http.StatusSeeOther || c.Cookie != "" {
				t.Fatalf("logout = %d, cookie %q", r.Status, c.Cookie)
			}
			c.Cookie = token
			if c.loggedIn() {
				t.Error("the session works after log out")
			}
		})
	})
}

func TestSessionTimeouts(t *testing.T) {
	tests := []struct {
		name   string
		steps  []time.Duration // pauses between page views after login
		wantOK bool
	}{
		{"active within the idle timeout", []time.Duration{29 * time.Minute, 29 * time.Minute}, true},
		{"idle too long", []time.Duration{31 * time.Minute}, false},
		{"active until just before the absolute timeout", slices.Repeat([]time.Duration{20 * time.Minute}, 35), true},
		{"past the absolute timeout although active", slices.Repeat([]time.Duration{20 * time.Minute}, 36), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, sqlite)
			h.user(t, "root@sapient.test", "")
			c := h.client(t)
			c.login("root@sapient.test")
			ok := true
			for _, d := range tt.steps {
				h.Clock.Advance(d)
				if ok = c.loggedIn(); !ok {
					break
				}
			}
			if ok != tt.wantOK {
				t.Errorf("logged in = %v, want %v", ok, tt.wantOK)
			}
		})
	}
}

func TestChangePassword(t *testing.T) {
	h := newHarness(t, sqlite)
	o := h.org(t, "Acme")
	h.user(t, "alice@acme.test", o.ID)
	here, elsewhere := h.client(t), h.client(t)
	here.login("alice@acme.test")
	elsewhere.login("alice@acme.test")
	const next = "a whole new passphrase"

	invalid := []struct {
		name string
		form url.Values
		want string
	}{
		{"wrong current", url.Values{"current_password": {"not it at all"}, "password": {next}, "confirm": {next}}, "Current password is incorrect."},
		{"confirmation differs", url.Values{"current_password": {testPassword}, "password": {next}, "confirm": {next + "!"}}, "The new password and its confirmation differ."},
		{"too short", url.Values{"current_password": {testPassword}, "password": {"short"}, "confirm": {"short"}}, "Password must be at least 12 characters."},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			r := here.post("/account/password", tt.form)
			if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, tt.want) {
				t.Errorf("= %d, want 422 with %q\n%s", r.Status, tt.want, r.Body)
			}
		})
	}
	if !elsewhere.loggedIn() {
		t.Fatal("a refused change ended the other session")
	}

	r := here.post("/account/password", url.Values{"current_password": {testPassword}, "password": {next}, "confirm": {next}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("change = %d\n%s", r.Status, r.Body)
	}
	if !here.loggedIn() {
		t.Error("the session that changed the password ended")
	}
	if elsewhere.loggedIn() {
		t.Error("the other session survived the password change")
	}
	if r := here.get("/account/password?changed=1"); !strings.Contains(r.Body, "Every other session of yours has ended.") {
		t.Error("no confirmation after the change")
	}
	if _, err := h.Users.Authenticate(t.Context(), access.Actor{}, "alice@acme.test", next); err != nil {
		t.Errorf("the new password does not work: %v", err)
	}
}

func TestUnauthenticated(t *testing.T) {
	h := newHarness(t, sqlite)
	c := h.client(t)
	for _, p := range []string{"/", "/credentials", "/credentials/new", "/account/password", "/admin/users", "/usage", "/activity", "/admin/audit"} {
		if r := c.get(p); r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login?next=") {
			t.Errorf("GET %s = %d %q, want a redirect to log in", p, r.Status, r.Header.Get("Location"))
		}
	}
	if r := c.post("/credentials", url.Values{"name": {"x"}}); r.Status != http.StatusUnauthorized {
		t.Errorf("POST /credentials = %d, want 401", r.Status)
	}
}

func TestCrossOriginPostRefused(t *testing.T) {
	h := newHarness(t, sqlite)
	o := h.org(t, "Acme")
	h.user(t, "alice@acme.test", o.ID)
	c := h.client(t)
	c.login("alice@acme.test")
	tests := []struct {
		name   string
		header []string
	}{
		{"cross-site fetch", []string{"Sec-Fetch-Site", "cross-site"}},
		{"same-site other origin", []string{"Sec-Fetch-Site", "same-site"}},
		{"foreign Origin without fetch metadata", []string{"Sec-Fetch-Site", "", "Origin", "https://evil.example"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.do(http.MethodPost, "/credentials", url.Values{"name": {"Planted " + tt.name}}, tt.header...)
			if r.Status != http.StatusForbidden || !strings.Contains(r.Body, "came from another site") {
				t.Errorf("= %d, want 403", r.Status)
			}
		})
	}
	if list, _ := h.Store.ListCredentials(t.Context(), store.CredentialFilter{}); len(list) != 0 {
		t.Errorf("cross-origin posts created %d credentials", len(list))
	}
}
