package console_test

import (
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/console"
	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/org"
	"sapient.dev/sapient/internal/scope"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
	"sapient.dev/sapient/internal/user"
)

// testPassword is the password of every user the tests create.
const testPassword = "correct horse battery staple"

// harness is the console alone on a real store behind a real HTTP server,
// with a clock the test moves.
type harness struct {
	URL   string
	Store *store.SQL
	Users *user.Service
	Creds *credential.Service
	Clock *clock
}

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward.
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newHarness starts the console on a fresh database of backend.
func newHarness(t *testing.T, backend storetest.Backend) *harness {
	t.Helper()
	return newHarnessAt(t, backend, "")
}

// newHarnessAt is newHarness whose issuer names host (for example
// "localhost", which passkeys need) instead of the listener's address.
func newHarnessAt(t *testing.T, backend storetest.Backend, host string) *harness {
	t.Helper()
	st := storetest.New(t, backend)
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
	if host != "" {
		_, port, _ := strings.Cut(srv.Listener.Addr().String(), ":")
		h.URL = "http://" + host + ":" + port
	}
	c, err := console.New(console.Config{
		Store: st, Credentials: h.Creds, Users: h.Users, Now: clk.Now, Issuer: h.URL,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil)), KEK: testKEK(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	c.Register(mux)
	srv.Start()
	t.Cleanup(srv.Close)
	return h
}

// org creates a customer organisation.
func (h *harness) org(t *testing.T, name string) store.Org {
	t.Helper()
	o, err := org.Create(t.Context(), h.Store, access.CLI, name, h.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// user creates a user with testPassword; orgID empty makes an Admin.
func (h *harness) user(t *testing.T, email, orgID string) store.User {
	t.Helper()
	role := store.RoleCustomer
	if orgID == "" {
		role = store.RoleAdmin
	}
	u, err := h.Users.Create(t.Context(), access.CLI, user.CreateRequest{Email: email, Password: testPassword, Role: role, OrgID: orgID})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// client is one browser: it keeps the session cookie and does not follow
// redirects, so that tests see them.
type client struct {
	t    *testing.T
	base string
	http *http.Client
	// Cookie is the session cookie value, sent on every request.
	Cookie string
}

// response is what a request answered.
type response struct {
	Status int
	Header http.Header
	Body   string
}

func (h *harness) client(t *testing.T) *client {
	return &client{t: t, base: h.URL, http: &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// do sends a request as a same-origin browser form would.
func (c *client) do(method, path string, form url.Values, header ...string) response {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if method == http.MethodPost {
		req.Header.Set("Origin", c.base)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	if c.Cookie != "" {
		req.AddCookie(&http.Cookie{Name: user.CookieName(false), Value: c.Cookie})
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == user.CookieName(false) {
			c.Cookie = ck.Value
			if ck.MaxAge < 0 {
				c.Cookie = ""
			}
		}
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
}

func (c *client) get(path string) response { c.t.Helper(); return c.do(http.MethodGet, path, nil) }

func (c *client) post(path string, form url.Values) response {
	c.t.Helper()
	return c.do(http.MethodPost, path, form)
}

// login logs in and fails the test unless it worked.
func (c *client) login(email string) {
	c.t.Helper()
	r := c.post("/login", url.Values{"email": {email}, "password": {testPassword}})
	if r.Status != http.StatusSeeOther || c.Cookie == "" {
		c.t.Fatalf("login %s: %d\n%s", email, r.Status, r.Body)
	}
}

// loggedIn reports whether the client's session lets it see a page.
func (c *client) loggedIn() bool {
	c.t.Helper()
	r := c.get("/credentials")
	return r.Status == http.StatusOK
}

// testWriter sends the console's log to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
