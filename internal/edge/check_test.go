package edge_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/server"
	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
)

// TestCheckRefusesBadInput: every malformed or refused call gets a precise
// answer in RFC 6750's terms, never a 500, and nothing is counted for a
// credential that was not identified.
func TestCheckRefusesBadInput(t *testing.T) {
	proxy := netip.MustParsePrefix("192.0.2.0/24")
	env := servertest.New(t, storetest.Backend{Name: "sqlite", URL: storetest.SQLiteURL},
		func(c *server.Config) { c.TrustedProxies = []netip.Prefix{proxy} })
	acme := env.Org(t, "Acme")
	cred := env.Credential(t, acme.ID, "billing", nil)
	tok := env.Token(t, cred)
	fenced, err := env.Server.Credentials.Create(t.Context(), access.CLI,
		credential.CreateRequest{OrgID: acme.ID, Name: "fenced", AllowedCIDRs: []string{"10.0.0.0/8"}})
	if err != nil {
		t.Fatal(err)
	}
	fencedTok := tokenFrom(t, env, fenced, "10.1.2.3")
	otherIssuer := servertest.New(t, storetest.Backend{Name: "sqlite", URL: storetest.SQLiteURL})
	foreign := otherIssuer.Token(t, otherIssuer.Credential(t, otherIssuer.Org(t, "Other").ID, "x", nil))

	tests := []struct {
		name       string
		query      string
		auth       []string
		remote     string // the connection's address
		xff        string
		wantStatus int
		wantError  string // in WWW-Authenticate, or the JSON body for 400
	}{
		{name: "accepted", auth: []string{"Bearer " + tok}, wantStatus: 200},
		{name: "scheme in another case", auth: []string{"bEaReR " + tok}, wantStatus: 200},
		{name: "no Authorization", wantStatus: 401, wantError: `Bearer realm="sapient"`},
		{name: "two Authorization headers", auth: []string{"Bearer " + tok, "Bearer " + tok}, wantStatus: 401, wantError: "more than one"},
		{name: "Basic", auth: []string{"Basic YTpi"}, wantStatus: 401, wantError: `error="invalid_token"`},
		{name: "not a b64token", auth: []string{"Bearer a b"}, wantStatus: 401, wantError: "malformed"},
		{name: "bearer with nothing", auth: []string{"Bearer "}, wantStatus: 401, wantError: "malformed"},
		{name: "garbage token", auth: []string{"Bearer abc.def.ghi"}, wantStatus: 401, wantError: `error="invalid_token"`},
		{name: "oversized token", auth: []string{"Bearer " + strings.Repeat("a", 10_000)}, wantStatus: 401, wantError: "malformed"},
		{name: "another issuer's token", auth: []string{"Bearer " + foreign}, wantStatus: 401, wantError: `error="invalid_token"`},
		{name: "scope missing", query: "scope=shipments:write", auth: []string{"Bearer " + tok}, wantStatus: 403, wantError: `error="insufficient_scope"`},
		{name: "one of two scopes missing", query: "scope=usage:read+shipments:write", auth: []string{"Bearer " + tok}, wantStatus: 403, wantError: `scope="usage:read shipments:write"`},
		{name: "scopes held", query: "scope=usage:read+credentials:read&route=me", auth: []string{"Bearer " + tok}, wantStatus: 200},
		{name: "scope list of 10 kB", query: "scope=" + strings.Repeat("a", 10_000), auth: []string{"Bearer " + tok}, wantStatus: 400, wantError: "longer than"},
		{name: "route of 10 kB", query: "route=" + strings.Repeat("r", 10_000), auth: []string{"Bearer " + tok}, wantStatus: 400, wantError: "longer than"},
		{name: "route with a space", query: "route=a+b", auth: []string{"Bearer " + tok}, wantStatus: 400, wantError: "route"},
		{name: "scopes separated by a tab", query: "scope=usage:read%09credentials:read", auth: []string{"Bearer " + tok}, wantStatus: 400, wantError: "single spaces"},
		{name: "unknown parameter", query: "scopes=x", auth: []string{"Bearer " + tok}, wantStatus: 400, wantError: "only the parameters"},
		{name: "repeated parameter", query: "route=a&route=b", auth: []string{"Bearer " + tok}, wantStatus: 400, wantError: "more than once"},
		{name: "allowed address, through a trusted proxy", auth: []string{"Bearer " + fencedTok}, remote: "192.0.2.7", xff: "10.9.9.9", wantStatus: 200},
		{name: "other address, through a trusted proxy", auth: []string{"Bearer " + fencedTok}, remote: "192.0.2.7", xff: "203.0.113.5", wantStatus: 401, wantError: "this address"},
		{name: "allowed address claimed by an untrusted client", auth: []string{"Bearer " + fencedTok}, remote: "203.0.113.9", xff: "10.9.9.9", wantStatus: 401, wantError: "this address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/edge/check?"+tt.query, nil)
			if tt.remote != "" {
				r.RemoteAddr = tt.remote + ":4000"
			}
			if tt.xff != "" {
				r.Header.Set("X-Forwarded-For", tt.xff)
			}
			r.Header["Authorization"] = tt.auth
			r.Header.Set("X-Original-URI", "/shipments/1")
			w := httptest.NewRecorder()
			env.Server.Handler().ServeHTTP(w, r)
			if w.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", w.Code, tt.wantStatus, w.Body)
			}
			got := w.Header().Get("WWW-Authenticate")
			if tt.wantStatus == 400 {
				got = w.Body.String()
			}
			if !strings.Contains(got, tt.wantError) {
				t.Errorf("answer %q, want it to contain %q", got, tt.wantError)
			}
			if w.Code != 200 && w.Header().Get(edgeClientID) != "" {
				t.Errorf("a refusal carries the identity header %q", w.Header().Get(edgeClientID))
			}
			if w.Code != 400 && w.Code != 200 && !json.Valid(w.Body.Bytes()) {
				t.Errorf("body %q is not JSON", w.Body)
			}
		})
	}
	// Counted: the identified credentials' accepted and refused calls, and
	// nothing else.
	if err := env.Server.Usage.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	buckets, err := env.Store.ListUsage(t.Context(), store.UsageFilter{})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string][2]int64{}
	for _, b := range buckets {
		c := count[b.ClientID]
		c[0], c[1] = c[0]+b.APICalls, c[1]+b.APIRefused
		count[b.ClientID] = c
	}
	if got, want := count[cred.Credential.ClientID], [2]int64{3, 2}; got != want {
		t.Errorf("billing: %d calls and %d refused, want %d and %d", got[0], got[1], want[0], want[1])
	}
	if got, want := count[fenced.Credential.ClientID], [2]int64{1, 2}; got != want {
		t.Errorf("fenced: %d calls and %d refused, want %d and %d", got[0], got[1], want[0], want[1])
	}
	if len(count) != 2 {
		t.Errorf("usage counted for %d credentials, want 2: %v", len(count), count)
	}
}

// TestCheckIdentityHeaders: a name that is not ASCII reaches the upstream
// percent-encoded, so that every proxy passes it unchanged.
func TestCheckIdentityHeaders(t *testing.T) {
	env := servertest.New(t, storetest.Backend{Name: "sqlite", URL: storetest.SQLiteURL})
	acme := env.Org(t, "Acme")
	cred := env.Credential(t, acme.ID, "café 100%", nil)
	r := httptest.NewRequest(http.MethodPost, "/edge/check", nil) // nginx asks with the caller's method
	r.Header.Set("Authorization", "Bearer "+env.Token(t, cred))
	w := httptest.NewRecorder()
	env.Server.Handler().ServeHTTP(w, r)
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	h := w.Header()
	if h.Get(edgeClientID) != cred.Credential.ClientID || h.Get("X-Sapient-Org-Id") != acme.ID ||
		h.Get("X-Sapient-Credential-Name") != "caf%C3%A9%20100%25" || h.Get("X-Sapient-Scope") == "" {
		t.Errorf("identity headers %v", h)
	}
}

const edgeClientID = "X-Sapient-Client-Id"

// tokenFrom obtains a token for c as a client at addr.
func tokenFrom(t *testing.T, env *servertest.Env, c credential.Created, addr string) string {
	t.Helper()
	r := servertest.TokenRequest(c)
	r.RemoteAddr = addr + ":5000"
	w := httptest.NewRecorder()
	env.Server.Handler().ServeHTTP(w, r)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("token from %s: %d %s", addr, w.Code, w.Body)
	}
	return tok.AccessToken
}
