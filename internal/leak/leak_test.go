package leak_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"sapient.dev/sapient/internal/audit"
	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/ratelimit/redistest"
	"sapient.dev/sapient/internal/server"
	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
)

// post sends body to path on env's handler from the client address ip.
func post(env *servertest.Env, path, ip string, body []byte, header http.Header) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	r.RemoteAddr = ip + ":40000"
	r.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	env.Server.Handler().ServeHTTP(w, r)
	return w
}

func report(secrets []string, url string) []byte {
	b, _ := json.Marshal(map[string]any{"secrets": secrets, "url": url})
	return b
}

// tokenStatus is the status of a token request with c's secret.
func tokenStatus(env *servertest.Env, c credential.Created) int {
	w := httptest.NewRecorder()
	env.Server.Handler().ServeHTTP(w, servertest.TokenRequest(c))
	return w.Code
}

func leakEvents(t *testing.T, env *servertest.Env) []store.AuditEvent {
	t.Helper()
	evs, err := env.Store.ListAudit(t.Context(), store.AuditFilter{Action: audit.CredentialLeaked})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// wantProblem fails unless w is a JSON problem with status.
func wantProblem(t *testing.T, w *httptest.ResponseRecorder, status int) {
	t.Helper()
	var p struct {
		Status int    `json:"status"`
		Title  string `json:"title"`
		Detail string `json:"detail"`
	}
	if w.Code != status || w.Header().Get("Content-Type") != "application/problem+json" ||
		json.Unmarshal(w.Body.Bytes(), &p) != nil || p.Status != status || p.Detail == "" {
		t.Fatalf("answer = %d %s %s, want a JSON problem with status %d", w.Code, w.Header().Get("Content-Type"), w.Body, status)
	}
}

// TestLeaks: POST /leaks revokes each working secret it is given, at
// once, and answers 202 with the same body whether or not any secret was
// valid; the audit trail names the reporter's address and the URL, never
// the secret; a revoked secret reported again changes nothing.
func TestLeaks(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		env := servertest.New(t, b)
		acme := env.Org(t, "Acme")
		leaked := env.Credential(t, acme.ID, "billing", nil)
		kept := env.Credential(t, acme.ID, "reports", nil)
		tok := env.Token(t, leaked)

		unknown, _ := credential.NewSecret(strings.NewReader(strings.Repeat("x", 64)))
		nothing := post(env, "/leaks", "198.51.100.1", report([]string{unknown, "sapsk_nope"}, "https://paste.example/1"), nil)
		w := post(env, "/leaks", "198.51.100.2", report([]string{"hello", leaked.Secret}, "https://paste.example/2"), nil)
		if w.Code != http.StatusAccepted || nothing.Code != http.StatusAccepted || w.Body.String() != nothing.Body.String() {
			t.Fatalf("answers: valid %d %q, invalid %d %q; want the same 202", w.Code, w.Body, nothing.Code, nothing.Body)
		}
		if code := tokenStatus(env, leaked); code != http.StatusUnauthorized {
			t.Errorf("token request with the leaked secret: %d, want 401", code)
		}
		if code := tokenStatus(env, kept); code != http.StatusOK {
			t.Errorf("token request with a secret not reported: %d, want 200", code)
		}
		req := httptest.NewRequest(http.MethodGet, "/api/v1/me", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		me := httptest.NewRecorder()
		env.Server.Handler().ServeHTTP(me, req)
		if me.Code != http.StatusUnauthorized {
			t.Errorf("a token of the leaked credential: %d, want 401", me.Code)
		}
		evs := leakEvents(t, env)
		if len(evs) != 1 || evs[0].Target != leaked.Credential.ClientID || evs[0].IP != "198.51.100.2" ||
			!strings.Contains(evs[0].Detail, "https://paste.example/2") || strings.Contains(evs[0].Detail, leaked.Secret) {
			t.Fatalf("credential.leaked events = %+v", evs)
		}
		if strings.Contains(env.Logs.String(), leaked.Secret) {
			t.Error("the secret was logged")
		}
		before, _ := env.Store.GetCredential(t.Context(), leaked.Credential.ClientID)
		if again := post(env, "/leaks", "198.51.100.3", report([]string{leaked.Secret}, "x"), nil); again.Code != http.StatusAccepted || again.Body.String() != nothing.Body.String() {
			t.Errorf("reporting it again: %d %s", again.Code, again.Body)
		}
		after, _ := env.Store.GetCredential(t.Context(), leaked.Credential.ClientID)
		if after.Version != before.Version || len(leakEvents(t, env)) != 1 {
			t.Error("reporting a revoked secret again changed something")
		}
	})
}

// TestLeaksBadInput: garbage, too many secrets, too large a body, wrong
// types: a clear JSON problem, never a 500, and nothing revoked.
func TestLeaksBadInput(t *testing.T) {
	env := servertest.New(t, storetest.Backends()[0], func(c *server.Config) { c.LeakRateLimit = -1 })
	c := env.Credential(t, env.Org(t, "Acme").ID, "billing", nil)
	many := make([]string, 10_000)
	for i := range many {
		many[i] = c.Secret
	}
	huge := []byte(`{"secrets": ["` + strings.Repeat("a", 2<<20) + `"]}`)
	for _, tc := range []struct {
		name   string
		body   []byte
		status int
	}{
		{"garbage", []byte("secrets=sapsk_"), 400},
		{"empty body", nil, 400},
		{"no secrets", []byte(`{"url": "x"}`), 400},
		{"empty list", []byte(`{"secrets": []}`), 400},
		{"10,000 secrets", report(many, "x"), 400},
		{"2 MiB", huge, 413},
		{"secrets not a list", []byte(`{"secrets": "` + c.Secret + `"}`), 400},
		{"a secret not a string", []byte(`{"secrets": [1]}`), 400},
		{"unknown field", []byte(`{"secrets": ["` + c.Secret + `"], "token": "x"}`), 400},
		{"two values", []byte(`{"secrets": ["` + c.Secret + `"]} {}`), 400},
		{"array", []byte(`["` + c.Secret + `"]`), 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantProblem(t, post(env, "/leaks", "198.51.100.1", tc.body, nil), tc.status)
		})
	}
	if code := tokenStatus(env, c); code != http.StatusOK {
		t.Errorf("after refused reports the credential answers %d, want 200", code)
	}
	if n := len(leakEvents(t, env)); n != 0 {
		t.Errorf("%d credential.leaked events, want none", n)
	}
	r := httptest.NewRequest(http.MethodGet, "/leaks", nil)
	w := httptest.NewRecorder()
	env.Server.Handler().ServeHTTP(w, r)
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET /leaks = %d, want 405", w.Code)
	}
}

// TestLeaksRateLimited: each client address may send so many reports a
// second; past them, 429 with Retry-After, and the next second more.
func TestLeaksRateLimited(t *testing.T) {
	clock := servertest.NewClock()
	env := servertest.New(t, storetest.Backends()[0], servertest.WithClock(clock), func(c *server.Config) { c.LeakRateLimit = 2 })
	body := report([]string{"sapsk_x"}, "x")
	for i := range 2 {
		if w := post(env, "/leaks", "198.51.100.1", body, nil); w.Code != http.StatusAccepted {
			t.Fatalf("report %d: %d %s", i+1, w.Code, w.Body)
		}
	}
	w := post(env, "/leaks", "198.51.100.1", body, nil)
	wantProblem(t, w, http.StatusTooManyRequests)
	if w.Header().Get("Retry-After") != "1" {
		t.Errorf("Retry-After = %q, want 1", w.Header().Get("Retry-After"))
	}
	if w := post(env, "/leaks", "198.51.100.9", body, nil); w.Code != http.StatusAccepted {
		t.Errorf("another address: %d, want 202", w.Code)
	}
	clock.Add(time.Second)
	if w := post(env, "/leaks", "198.51.100.1", body, nil); w.Code != http.StatusAccepted {
		t.Errorf("a second later: %d, want 202", w.Code)
	}
}

// TestLeaksNeverFail: whatever the body, the answer is 202, 400, 413 or
// 429, never a 500.
func TestLeaksNeverFail(t *testing.T) {
	env := servertest.New(t, storetest.Backends()[0], func(c *server.Config) { c.LeakRateLimit = -1 })
	for i, body := range []string{`{"secrets": [null]}`, `{"secrets": ["\u0000"], "url": null}`, `{"secrets": ["sapsk_` + strings.Repeat("a", 58) + `"], "url": "` + strings.Repeat("\u00e9", 5000) + `"}`, `null`, `{}`, `{"secrets": null}`, `{"secrets": [""], "url": 5}`} {
		w := post(env, "/leaks", "198.51.100.1", []byte(body), nil)
		if w.Code != 202 && w.Code != 400 {
			t.Errorf("body %d: %d %s", i, w.Code, w.Body)
		}
	}
}

// TestLeaksRateLimitShared: with Redis, instances share each address's
// budget of reports (here one a second: what one instance spent, the
// other refuses).
func TestLeaksRateLimitShared(t *testing.T) {
	redisURL, prefix := redistest.URL(t)
	shared := func(c *server.Config) {
		c.LeakRateLimit, c.RedisURL, c.RedisPrefix, c.RedisTimeout = 1, redisURL, prefix, time.Second
	}
	a := servertest.New(t, storetest.Backends()[0], shared)
	b := a.Join(t)
	body := report([]string{"sapsk_x"}, "x")
	if w := post(a, "/leaks", "198.51.100.1", body, nil); w.Code != http.StatusAccepted {
		t.Fatalf("first report: %d %s", w.Code, w.Body)
	}
	wantProblem(t, post(b, "/leaks", "198.51.100.1", body, nil), http.StatusTooManyRequests)
	wantProblem(t, post(a, "/leaks", "198.51.100.1", body, nil), http.StatusTooManyRequests)
	if w := post(b, "/leaks", "198.51.100.2", body, nil); w.Code != http.StatusAccepted {
		t.Errorf("another address: %d, want 202", w.Code)
	}
}
