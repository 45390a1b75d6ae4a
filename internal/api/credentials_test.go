package api_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/api"
	"sapient.dev/sapient/internal/audit"
	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/org"
	"sapient.dev/sapient/internal/scope"
	"sapient.dev/sapient/internal/server"
	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
)

// The tests of this file hold the management API to the rules of
// credentials: each rule is one table run on every backend, once with a
// bearer token and once with a console session.

// builtins are the four scopes of the management API.
var builtins = []string{scope.AuditRead, scope.CredentialsRead, scope.CredentialsWrite, scope.UsageRead}

// reply is an HTTP answer, read in full.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("answer %d is not the expected JSON: %v\n%s", r.status, err, r.body)
	}
}

// credential decodes a credential and checks the status.
func (r reply) credential(t *testing.T, status int) api.Credential {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	var c api.Credential
	r.decode(t, &c)
	return c
}

// problem checks that the answer is an RFC 9457 problem with status and,
// if field is not empty, that it names field as invalid.
func (r reply) problem(t *testing.T, status int, field string) api.Problem {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json: %s", ct, r.body)
	}
	var p api.Problem
	r.decode(t, &p)
	if p.Status != status || p.Title == "" || p.Detail == "" {
		t.Fatalf("problem %+v does not describe a %d", p, status)
	}
	if field != "" && (len(p.Errors) == 0 || p.Errors[0].Field != field || p.Errors[0].Message == "") {
		t.Fatalf("problem errors %+v, want one for field %q", p.Errors, field)
	}
	return p
}

// send makes one request and reads the whole answer.
func send(t *testing.T, method, u string, header http.Header, body io.Reader) reply {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{resp.StatusCode, resp.Header, b}
}

// tokenReply is the token endpoint's answer, success or error.
type tokenReply struct {
	reply
	AccessToken string `json:"access_token"`
	Scope       string `json:"scope"`
	Error       string `json:"error"`
}

// token asks the token endpoint for a token with client_secret_basic;
// form and header add to the request.
func token(t *testing.T, env *servertest.Env, id, secret string, form url.Values, header http.Header) tokenReply {
	t.Helper()
	f := url.Values{"grant_type": {"client_credentials"}}
	for k, v := range form {
		f[k] = v
	}
	h := http.Header{
		"Content-Type":  {"application/x-www-form-urlencoded"},
		"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))},
	}
	for k, v := range header {
		h[k] = v
	}
	r := tokenReply{reply: send(t, http.MethodPost, env.URL+"/connect/token", h, strings.NewReader(f.Encode()))}
	r.decode(t, &r)
	if r.AccessToken != "" { // keep tokens out of failure messages
		r.body = bytes.ReplaceAll(r.body, []byte(r.AccessToken), []byte("<token>"))
	}
	return r
}

// mustToken returns an access token for the credential.
func mustToken(t *testing.T, env *servertest.Env, id, secret string) string {
	t.Helper()
	r := token(t, env, id, secret, nil, nil)
	if r.status != http.StatusOK || r.AccessToken == "" {
		t.Fatalf("token for %s: %d %s", id, r.status, r.body)
	}
	return r.AccessToken
}

// wantTokenError checks that the token endpoint refused with code.
func wantTokenError(t *testing.T, r tokenReply, status int, code string) {
	t.Helper()
	if r.status != status || r.Error != code || r.AccessToken != "" {
		t.Fatalf("token endpoint: %d %s, want %d %s", r.status, r.body, status, code)
	}
}

// meReply is the answer of /api/v1/me.
type meReply struct {
	reply
	ClientID string   `json:"client_id"`
	Name     string   `json:"name"`
	Scopes   []string `json:"scopes"`
	Error    string   `json:"error"`
}

// me calls /api/v1/me with the token; header adds to the request.
func me(t *testing.T, env *servertest.Env, tok string, header http.Header) meReply {
	t.Helper()
	h := http.Header{"Authorization": {"Bearer " + tok}}
	for k, v := range header {
		h[k] = v
	}
	r := meReply{reply: send(t, http.MethodGet, env.URL+"/api/v1/me", h, nil)}
	r.decode(t, &r)
	return r
}

// wantInvalidToken checks an RFC 6750 invalid_token refusal.
func wantInvalidToken(t *testing.T, r meReply) {
	t.Helper()
	if r.status != http.StatusUnauthorized || r.Error != "invalid_token" ||
		!strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("got %d %s (WWW-Authenticate %q), want 401 invalid_token", r.status, r.body, r.header.Get("WWW-Authenticate"))
	}
}

// wantInsufficientScope checks an RFC 6750 insufficient_scope refusal.
func wantInsufficientScope(t *testing.T, r reply, sc string) {
	t.Helper()
	www := r.header.Get("WWW-Authenticate")
	if r.status != http.StatusForbidden || !strings.Contains(www, `error="insufficient_scope"`) || !strings.Contains(www, `scope="`+sc+`"`) {
		t.Fatalf("got %d %s (WWW-Authenticate %q), want 403 insufficient_scope for %s", r.status, r.body, www, sc)
	}
}

// afterSync takes one sync step on env, as its background loop does every
// 250 ms, and checks cond: a change made elsewhere (in the database
// straight, as the CLI or another instance does) is then applied.
func afterSync(t *testing.T, env *servertest.Env, what string, cond func() bool) {
	t.Helper()
	if err := env.Server.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !cond() {
		t.Fatalf("%s: not after a sync step", what)
	}
}

// eventually waits, bounded, for work done off the request path.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: never", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// login logs in to the console and returns the session cookie.
func login(t *testing.T, env *servertest.Env, email, password string) *http.Cookie {
	t.Helper()
	r := send(t, http.MethodPost, env.URL+"/login", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
		strings.NewReader(url.Values{"email": {email}, "password": {password}}.Encode()))
	if r.status != http.StatusSeeOther {
		t.Fatalf("login %s: %d %s", email, r.status, r.body)
	}
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == "sapient_session" && c.Value != "" {
			return c
		}
	}
	t.Fatalf("login %s set no session cookie: %v", email, r.header["Set-Cookie"])
	return nil
}

// caller makes API calls as one principal: a bearer token of a credential
// or a console session of a user.
type caller struct {
	env   *servertest.Env
	kind  string // "bearer" or "session"
	label string // how the audit trail and revoked_by name it
	orgID string
	// holds is what a bearer caller's token holds; nil for a session.
	holds []string

	mu      sync.Mutex
	auth    http.Header
	refresh func(t *testing.T) http.Header
}

// bearerCaller is a credential of orgID holding scopes, calling with a
// fresh token.
func bearerCaller(t *testing.T, env *servertest.Env, orgID, name string, scopes []string) *caller {
	t.Helper()
	c := env.Credential(t, orgID, name, scopes)
	cl := &caller{env: env, kind: "bearer", label: name, orgID: orgID, holds: c.Credential.Scopes}
	cl.refresh = func(t *testing.T) http.Header {
		return http.Header{"Authorization": {"Bearer " + mustToken(t, env, c.Credential.ClientID, c.Secret)}}
	}
	cl.auth = cl.refresh(t)
	return cl
}

// sessionCaller is a console user of role in orgID ("" for an Admin).
func sessionCaller(t *testing.T, env *servertest.Env, email string, role store.Role, orgID string) *caller {
	t.Helper()
	if email != servertest.AdminEmail {
		env.User(t, email, servertest.AdminPassword, role, orgID)
	}
	cl := &caller{env: env, kind: "session", label: email, orgID: orgID}
	cl.refresh = func(t *testing.T) http.Header {
		ck := login(t, env, email, servertest.AdminPassword)
		return http.Header{"Cookie": {ck.Name + "=" + ck.Value}}
	}
	cl.auth = cl.refresh(t)
	return cl
}

// renew gets a new token or session, after the test moved the clock
// beyond the old one's life.
func (c *caller) renew(t *testing.T) {
	t.Helper()
	h := c.refresh(t)
	c.mu.Lock()
	c.auth = h
	c.mu.Unlock()
}

// raw calls the API with a body of the given media type; header adds to
// the request.
func (c *caller) raw(t *testing.T, method, path, ctype, body string, header http.Header) reply {
	t.Helper()
	h := http.Header{}
	c.mu.Lock()
	for k, v := range c.auth {
		h[k] = v
	}
	c.mu.Unlock()
	if ctype != "" {
		h.Set("Content-Type", ctype)
	}
	for k, v := range header {
		h[k] = v
	}
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	return send(t, method, c.env.URL+path, h, r)
}

// call calls the API with body as JSON: nil for none, a string as is,
// anything else marshalled.
func (c *caller) call(t *testing.T, method, path string, body any) reply {
	t.Helper()
	switch b := body.(type) {
	case nil:
		return c.raw(t, method, path, "", "", nil)
	case string:
		return c.raw(t, method, path, "application/json", b, nil)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		return c.raw(t, method, path, "application/json", string(j), nil)
	}
}

// create makes a credential and returns it with its secret.
func (c *caller) create(t *testing.T, body any) api.Credential {
	t.Helper()
	r := c.call(t, http.MethodPost, "/api/v1/credentials", body)
	cr := r.credential(t, http.StatusCreated)
	if cr.ClientID == "" || cr.ClientSecret == "" {
		t.Fatalf("create answered %s", r.body)
	}
	return cr
}

// get reads one credential.
func (c *caller) get(t *testing.T, clientID string) api.Credential {
	t.Helper()
	cr := c.call(t, http.MethodGet, "/api/v1/credentials/"+clientID, nil).credential(t, http.StatusOK)
	if cr.ClientSecret != "" {
		t.Fatalf("GET %s shows a secret", clientID)
	}
	return cr
}

// list reads the credentials the caller sees; query is the query string.
func (c *caller) list(t *testing.T, query string) []api.Credential {
	t.Helper()
	r := c.call(t, http.MethodGet, "/api/v1/credentials"+query, nil)
	if r.status != http.StatusOK {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	var out struct{ Data []api.Credential }
	r.decode(t, &out)
	for _, cr := range out.Data {
		if cr.ClientSecret != "" {
			t.Fatalf("list shows the secret of %s", cr.ClientID)
		}
	}
	return out.Data
}

// listIDs returns the client IDs the caller sees.
func (c *caller) listIDs(t *testing.T, query string) []string {
	t.Helper()
	var ids []string
	for _, cr := range c.list(t, query) {
		ids = append(ids, cr.ClientID)
	}
	slices.Sort(ids)
	return ids
}

// callerKinds are the two ways to call the management API as a customer:
// a bearer token holding the four built-in scopes, and a console session
// of a Customer user.
var callerKinds = []struct {
	name string
	new  func(t *testing.T, env *servertest.Env, orgID string) *caller
}{
	{"bearer", func(t *testing.T, env *servertest.Env, orgID string) *caller {
		return bearerCaller(t, env, orgID, "automation", builtins)
	}},
	{"session", func(t *testing.T, env *servertest.Env, orgID string) *caller {
		return sessionCaller(t, env, "alice@acme.test", store.RoleCustomer, orgID)
	}},
}

// forEachCaller runs the test on every backend with every kind of caller,
// each on a fresh instance with an organisation Acme and a clock of its
// own that moves only when the test moves it.
func forEachCaller(t *testing.T, opts []servertest.Option, run func(t *testing.T, env *servertest.Env, acme store.Org, c *caller, clk *servertest.Clock)) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		for _, k := range callerKinds {
			t.Run(k.name, func(t *testing.T) {
				clk := servertest.NewClock()
				env := servertest.New(t, b, append([]servertest.Option{servertest.WithClock(clk)}, opts...)...)
				acme := env.Org(t, "Acme")
				run(t, env, acme, k.new(t, env, acme.ID), clk)
			})
		}
	})
}

// stored reads a credential straight from the store.
func stored(t *testing.T, env *servertest.Env, clientID string) store.Credential {
	t.Helper()
	c, err := env.Store.GetCredential(t.Context(), clientID)
	if err != nil {
		t.Fatalf("store: %v", err)
	}
	return c
}

// sameCredential checks that nothing about a credential changed.
func sameCredential(t *testing.T, before, after store.Credential) {
	t.Helper()
	if before.Name != after.Name || !slices.Equal(before.Scopes, after.Scopes) || before.SecretHash != after.SecretHash ||
		before.PreviousSecretHash != after.PreviousSecretHash || !before.RevokedAt.Equal(after.RevokedAt) ||
		!before.UpdatedAt.Equal(after.UpdatedAt) || !slices.Equal(before.AllowedCIDRs, after.AllowedCIDRs) ||
		!before.ExpiresAt.Equal(after.ExpiresAt) {
		t.Fatalf("credential changed:\nbefore %+v\nafter  %+v", before, after)
	}
}

// auditEvents reads the organisation's events of one action from the store.
func auditEvents(t *testing.T, env *servertest.Env, orgID, action string) []store.AuditEvent {
	t.Helper()
	ev, err := env.Store.ListAudit(t.Context(), store.AuditFilter{OrgID: orgID, Action: action})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestCreate(t *testing.T) {
	forEachCaller(t, nil, func(t *testing.T, env *servertest.Env, acme store.Org, c *caller, clk *servertest.Clock) {
		r := c.call(t, http.MethodPost, "/api/v1/credentials", map[string]any{"name": "billing"})
		cr := r.credential(t, http.StatusCreated)
		if cr.ClientID == "" || cr.ClientSecret == "" || cr.Name != "billing" || cr.OrganizationID != acme.ID ||
			cr.Status != "active" || cr.CreatedBy != c.label || cr.CreatedAt.IsZero() {
			t.Fatalf("created %+v", cr)
		}
		if loc := r.header.Get("Location"); loc != "/api/v1/credentials/"+cr.ClientID {
			t.Fatalf("Location %q", loc)
		}
		if cc := r.header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("the answer with the secret has Cache-Control %q, want no-store", cc)
		}
		// The secret works at once.
		tok := token(t, env, cr.ClientID, cr.ClientSecret, nil, nil)
		if tok.status != http.StatusOK || tok.Scope != strings.Join(cr.Scopes, " ") {
			t.Fatalf("token for the new credential: %d %s (scopes %q)", tok.status, tok.body, cr.Scopes)
		}
		if got := me(t, env, tok.AccessToken, nil); got.status != http.StatusOK || got.ClientID != cr.ClientID || got.Name != "billing" {
			t.Fatalf("/me with the new credential's token: %d %s", got.status, got.body)
		}
		// It never appears again: not at its Location, not in the list,
		// not in the audit trail, not in the store.
		for _, path := range []string{r.header.Get("Location"), "/api/v1/credentials"} {
			got := c.call(t, http.MethodGet, path, nil)
			if got.status != http.StatusOK || bytes.Contains(got.body, []byte(cr.ClientSecret)) || bytes.Contains(got.body, []byte("client_secret")) {
				t.Fatalf("GET %s: %d, shows the secret or its field: %s", path, got.status, got.body)
			}
		}
		if got := c.get(t, cr.ClientID); got.ClientID != cr.ClientID || got.Name != "billing" || !slices.Equal(got.Scopes, cr.Scopes) {
			t.Fatalf("GET = %+v, want %+v", got, cr)
		}
		if ids := c.listIDs(t, ""); !slices.Contains(ids, cr.ClientID) {
			t.Fatalf("list %v lacks %s", ids, cr.ClientID)
		}
		if s := stored(t, env, cr.ClientID); s.SecretHash == "" || strings.Contains(s.SecretHash, cr.ClientSecret) {
			t.Fatalf("stored secret hash %q", s.SecretHash)
		}
		ev := auditEvents(t, env, acme.ID, audit.CredentialCreated)
		i := slices.IndexFunc(ev, func(e store.AuditEvent) bool { return e.Target == cr.ClientID })
		if i < 0 || ev[i].ActorLabel != c.label || strings.Contains(ev[i].Detail, cr.ClientSecret) {
			t.Fatalf("audit events %+v: want credential.created of %s by %s, without the secret", ev, cr.ClientID, c.label)
		}
	})
}

func TestCreateNameRules(t *testing.T) {
	forEachCaller(t, nil, func(t *testing.T, env *servertest.Env, acme store.Org, c *caller, clk *servertest.Clock) {
		// The cases run in order: the duplicates need the first one.
		tests := []struct {
			name     string
			input    string
			status   int
			wantName string
		}{
			{"trimmed", "  billing \t", 201, "billing"},
			{"empty", "", 422, ""},
			{"only spaces", "   ", 422, ""},
			{"64 characters", strings.Repeat("a", credential.MaxNameLen), 201, strings.Repeat("a", credential.MaxNameLen)},
			{"65 characters", strings.Repeat("b", credential.MaxNameLen+1), 422, ""},
			{"64 two-byte characters", strings.Repeat("é", credential.MaxNameLen), 201, strings.Repeat("é", credential.MaxNameLen)},
			{"65 two-byte characters", strings.Repeat("é", credential.MaxNameLen+1), 422, ""},
			{"NUL", "bill\x00ing", 422, ""},
			{"newline", "bill\ning", 422, ""},
			{"escape", "bill\x1b[31ming", 422, ""},
			{"DEL", "bill\x7fing", 422, ""},
			{"duplicate", "billing", 422, ""},
			{"duplicate after trimming", " billing ", 422, ""},
			{"duplicate in other case", "BILLING", 422, ""},
			{"HTML is just text", "<b>billing</b>", 201, "<b>billing</b>"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := c.listIDs(t, "")
				r := c.call(t, http.MethodPost, "/api/v1/credentials", map[string]any{"name": tt.input})
				if tt.status == 422 {
					r.problem(t, 422, "name")
					if after := c.listIDs(t, ""); !slices.Equal(before, after) {
						t.Fatalf("refused create changed the list: %v to %v", before, after)
					}
					return
				}
				if cr := r.credential(t, tt.status); cr.Name != tt.wantName {
					t.Fatalf("name %q, want %q", cr.Name, tt.wantName)
				}
			})
		}
		// A revoked credential's name may be used again.
		var billing string
		for _, cr := range c.list(t, "") {
			if cr.Name == "billing" {
				billing = cr.ClientID
			}
		}
		if r := c.call(t, http.MethodDelete, "/api/v1/credentials/"+billing, nil); r.status != http.StatusOK {
			t.Fatalf("revoke: %d %s", r.status, r.body)
		}
		again := c.create(t, map[string]any{"name": "billing"})
		if again.ClientID == billing || again.Status != "active" {
			t.Fatalf("reused name: %+v", again)
		}
		// ...but not twice.
		c.call(t, http.MethodPost, "/api/v1/credentials", map[string]any{"name": "Billing"}).problem(t, 422, "name")
	})
}

func TestCreateScopeRules(t *testing.T) {
	forEachCaller(t, nil, func(t *testing.T, env *servertest.Env, acme store.Org, c *caller, clk *servertest.Clock) {
		ctx := t.Context()
		for _, name := range []string{"shipments:read", "shipments:write"} {
			if _, err := scope.Create(ctx, env.Store, access.CLI, name, "", time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		// Acme may grant shipments:write (which the bearer caller does not
		// hold) but not shipments:read.
		if _, err := org.Grant(ctx, env.Store, access.CLI, acme.ID, []string{"shipments:write"}, time.Now); err != nil {
			t.Fatal(err)
		}
		// The grant was made straight in the database, as another instance
		// or the CLI would: the instance learns of it by polling.
		afterSync(t, env, "grant seen by the instance", func() bool {
			o, err := env.Server.Orgs.Lookup(ctx, acme.ID)
			return err == nil && slices.Contains(o.Scopes, "shipments:write")
		})
		// nil scopes: everything the organisation may grant that the
		// caller itself holds.
		wantDefault := append(slices.Clone(builtins), "shipments:write", scope.WebhooksRead, scope.WebhooksWrite)
		slices.Sort(wantDefault)
		if c.kind == "bearer" {
			wantDefault = builtins
		}
		tests := []struct {
			name   string
			scopes any // nil: the field is left out
			status int
			// bearerStatus, when set, is the status for a bearer caller.
			bearerStatus int
			want         []string
		}{
			{name: "omitted", scopes: nil, status: 201, want: wantDefault},
			{name: "empty", scopes: []string{}, status: 201, want: []string{}},
			{name: "sorted and unique", scopes: []string{"usage:read", "audit:read", "usage:read"}, status: 201, want: []string{"audit:read", "usage:read"}},
			{name: "granted to the organisation", scopes: []string{"shipments:write"}, status: 201, bearerStatus: 422, want: []string{"shipments:write"}},
			{name: "not granted to the organisation", scopes: []string{"shipments:read"}, status: 422},
			{name: "one of several not granted", scopes: []string{"usage:read", "shipments:read"}, status: 422},
			{name: "unknown scope", scopes: []string{"nope:read"}, status: 422},
			{name: "admin-only scope", scopes: []string{scope.Introspect}, status: 422},
			{name: "null", scopes: "null", status: 201, want: wantDefault},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				status := tt.status
				if c.kind == "bearer" && tt.bearerStatus != 0 {
					status = tt.bearerStatus
				}
				body := map[string]any{"name": "cred " + strconv.Itoa(i)}
				if tt.scopes == "null" {
					body["scopes"] = nil
				} else if tt.scopes != nil {
					body["scopes"] = tt.scopes
				}
				before := c.listIDs(t, "")
				r := c.call(t, http.MethodPost, "/api/v1/credentials", body)
				if status == 422 {
					r.problem(t, 422, "scopes")
					if after := c.listIDs(t, ""); !slices.Equal(before, after) {
						t.Fatalf("refused create changed the list")
					}
					return
				}
				cr := r.credential(t, status)
				if !slices.Equal(cr.Scopes, tt.want) {
					t.Fatalf("scopes %q, want %q", cr.Scopes, tt.want)
				}
				if tok := token(t, env, cr.ClientID, cr.ClientSecret, nil, nil); tok.status != 200 || tok.Scope != strings.Join(tt.want, " ") {
					t.Fatalf("token: %d %s, want scope %q", tok.status, tok.body, tt.want)
				}
			})
		}
		// Refusals did not widen the organisation's grant.
		o, err := env.Store.GetOrg(ctx, acme.ID)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(o.Scopes, "shipments:read") || slices.Contains(o.Scopes, scope.Introspect) {
			t.Fatalf("organisation grant widened to %q", o.Scopes)
		}
	})
}

// TestCreateScopesOfNarrowToken checks that a credential acting through a
// token can grant only what that token holds, even if its credential holds
// more.
func TestCreateScopesOfNarrowToken(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		env := servertest.New(t, b)
		acme := env.Org(t, "Acme")
		full := env.Credential(t, acme.ID, "automation", builtins)
		tok := token(t, env, full.Credential.ClientID, full.Secret, url.Values{"scope": {scope.CredentialsWrite}}, nil)
		if tok.status != 200 || tok.Scope != scope.CredentialsWrite {
			t.Fatalf("narrow token: %d %s", tok.status, tok.body)
		}
		c := &caller{env: env, kind: "bearer", orgID: acme.ID, auth: http.Header{"Authorization": {"Bearer " + tok.AccessToken}}}
		if cr := c.create(t, map[string]any{"name": "child"}); !slices.Equal(cr.Scopes, []string{scope.CredentialsWrite}) {
			t.Fatalf("default scopes of a narrow token's credential: %q", cr.Scopes)
		}
		c.call(t, http.MethodPost, "/api/v1/credentials", map[string]any{"name": "wider", "scopes": []string{scope.CredentialsRead}}).problem(t, 422, "scopes")
		// Nor can it widen a credential by update.
		child := env.Credential(t, acme.ID, "other", []string{scope.UsageRead})
		c.call(t, http.MethodPatch, "/api/v1/credentials/"+child.Credential.ClientID,
			map[string]any{"scopes": []string{scope.UsageRead, scope.AuditRead}}).problem(t, 422, "scopes")
		if s := stored(t, env, child.Credential.ClientID); !slices.Equal(s.Scopes, []string{scope.UsageRead}) {
			t.Fatalf("scopes changed to %q", s.Scopes)
		}
	})
}

// TestAdminGrantExtendsOrganisation checks an Admin session: it may grant
// any defined scope, and an ordinary one beyond the organisation's grant
// extends that grant, while the Admin-only scope does not.
func TestAdminGrantExtendsOrganisation(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		env := servertest.New(t, b)
		acme := env.Org(t, "Acme")
		if _, err := scope.Create(t.Context(), env.Store, access.CLI, "shipments:read", "", time.Now()); err != nil {
			t.Fatal(err)
		}
		admin := sessionCaller(t, env, servertest.AdminEmail, store.RoleAdmin, "")
		// An Admin must say which organisation.
		admin.call(t, http.MethodPost, "/api/v1/credentials", map[string]any{"name": "x"}).problem(t, 422, "organization_id")
		admin.call(t, http.MethodPost, "/api/v1/credentials", map[string]any{"name": "x", "organization_id": "org_missing"}).problem(t, 422, "organization_id")
		cr := admin.create(t, map[string]any{"name": "partner", "organization_id": acme.ID,
			"scopes": []string{"shipments:read", scope.Introspect}})
		if cr.OrganizationID != acme.ID || !slices.Equal(cr.Scopes, []string{"sapient:introspect", "shipments:read"}) {
			t.Fatalf("created %+v", cr)
		}
		o, err := env.Store.GetOrg(t.Context(), acme.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(o.Scopes, "shipments:read") || slices.Contains(o.Scopes, scope.Introspect) {
			t.Fatalf("organisation grant is %q: want shipments:read added and sapient:introspect not", o.Scopes)
		}
		if tok := token(t, env, cr.ClientID, cr.ClientSecret, nil, nil); tok.status != 200 || tok.Scope != "sapient:introspect shipments:read" {
			t.Fatalf("token: %d %s", tok.status, tok.body)
		}
	})
}

func TestExpiry(t *testing.T) {
	forEachCaller(t, nil, func(t *testing.T, env *servertest.Env, acme store.Org, c *caller, clk *servertest.Clock) {
		now := clk.Now()
		refused := []struct {
			name      string
			expiresAt string
		}{
			{"past", now.Add(-time.Minute).Format(time.RFC3339)},
			{"now", now.Format(time.RFC3339)},
			{"long ago", "2001-01-01T00:00:00Z"},
		}
		for _, tt := range refused {
			t.Run(tt.name, func(t *testing.T) {
				before := c.listIDs(t, "")
				c.call(t, http.MethodPost, "/api/v1/credentials", map[string]any{"name": "x", "expires_at": tt.expiresAt}).problem(t, 422, "expires_at")
				if after := c.listIDs(t, ""); !slices.Equal(before, after) {
					t.Fatalf("refused create changed the list from %v to %v", before, after)
				}
			})
		}
		c.call(t, http.MethodPost, "/api/v1/credentials", map[string]any{"name": "x", "expires_at": "tomorrow"}).problem(t, 400, "")

		expiresAt := now.Add(10 * time.Minute)
		cr := c.create(t, map[string]any{"name": "temporary", "expires_at": expiresAt.Format(time.RFC3339)})
		if cr.Status != "active" || cr.ExpiresAt == nil || !cr.ExpiresAt.Equal(expiresAt) {
			t.Fatalf("created %+v, want active until %v", cr, expiresAt)
		}
		tok := mustToken(t, env, cr.ClientID, cr.ClientSecret)
		if got := me(t, env, tok, nil); got.status != 200 {
			t.Fatalf("/me before expiry: %d %s", got.status, got.body)
		}
		// One second before expiry it still works.
		clk.Add(10*time.Minute - time.Second)
		if got := c.get(t, cr.ClientID); got.Status != "active" {
			t.Fatalf("status %q a second before expiry", got.Status)
		}
		if got := me(t, env, tok, nil); got.status != 200 {
			t.Fatalf("/me a second before expiry: %d %s", got.status, got.body)
		}
		clk.Add(time.Second)
		if got := c.get(t, cr.ClientID); got.Status != "expired" {
			t.Fatalf("status %q at expiry, want expired", got.Status)
		}
		wantTokenError(t, token(t, env, cr.ClientID, cr.ClientSecret, nil, nil), 401, "invalid_client")
		// The token itself would live for an hour; the credential's expiry
		// ends it.
		wantInvalidToken(t, me(t, env, tok, nil))
		// An expired credential gets no new secret.
		c.call(t, http.MethodPost, "/api/v1/credentials/"+cr.ClientID+"/roll", map[string]any{"previous_secret_expires_in": "1h"}).problem(t, 422, "status")
		wantTokenError(t, token(t, env, cr.ClientID, cr.ClientSecret, nil, nil), 401, "invalid_client")
	})
}

func TestIPAllowList(t *testing.T) {
	forEachCaller(t, nil, func(t *testing.T, env *servertest.Env, acme store.Org, c *caller, clk *servertest.Clock) {
		tests := []struct {
			name   string
			cidrs  []string
			status int
			want   []string
		}{
			{"IPv4 network", []string{"192.0.2.0/24"}, 201, []string{"192.0.2.0/24"}},
			{"IPv6 network", []string{"2001:db8::/32"}, 201, []string{"2001:db8::/32"}},
			{"masked and sorted", []string{" 2001:DB8:1::5/48", "198.51.100.77/24", "192.0.2.1"}, 201,
				[]string{"192.0.2.1/32", "198.51.100.0/24", "2001:db8:1::/48"}},
			{"duplicates", []string{"192.0.2.0/24", "192.0.2.9/24"}, 201, []string{"192.0.2.0/24"}},
			{"empty means anywhere", []string{}, 201, []string{}},
			{"prefix too long", []string{"192.0.2.0/33"}, 422, nil},
			{"not an address", []string{"example.com"}, 422, nil},
			{"one bad among good", []string{"192.0.2.0/24", "300.0.0.0/8"}, 422, nil},
			{"IPv6 prefix too long", []string{"2001:db8::/129"}, 422, nil},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := c.listIDs(t, "")
				r := c.call(t, http.MethodPost, "/api/v1/credentials", map[string]any{"name": "net " + strconv.Itoa(i), "allowed_cidrs": tt.cidrs})
				if tt.status == 422 {
					r.problem(t, 422, "allowed_cidrs")
					if after := c.listIDs(t, ""); !slices.Equal(before, after) {
						t.Fatalf("refused create changed the list")
					}
					return
				}
				if cr := r.credential(t, tt.status); !slices.Equal(cr.AllowedCIDRs, tt.want) {
					t.Fatalf("allowed_cidrs %q, want %q", cr.AllowedCIDRs, tt.want)
				}
			})
		}

		// A credential limited to 192.0.2.0/24 gets no token from the
		// test's 127.0.0.1, and X-Forwarded-For is not believed without
		// trusted proxies.
		limited := c.create(t, map[string]any{"name": "limited", "allowed_cidrs": []string{"192.0.2.0/24"}})
		wantTokenError(t, token(t, env, limited.ClientID, limited.ClientSecret, nil, nil), 400, "unauthorized_client")
		wantTokenError(t, token(t, env, limited.ClientID, limited.ClientSecret, nil,
			http.Header{"X-Forwarded-For": {"192.0.2.9"}}), 400, "unauthorized_client")

		// A token obtained before the list was set is refused once it is.
		open := c.create(t, map[string]any{"name": "open"})
		tok := mustToken(t, env, open.ClientID, open.ClientSecret)
		c.call(t, http.MethodPatch, "/api/v1/credentials/"+open.ClientID, map[string]any{"allowed_cidrs": []string{"192.0.2.0/24"}}).credential(t, 200)
		wantInvalidToken(t, me(t, env, tok, nil))
		wantInvalidToken(t, me(t, env, tok, http.Header{"X-Forwarded-For": {"192.0.2.9"}}))
		c.call(t, http.MethodPatch, "/api/v1/credentials/"+open.ClientID, map[string]any{"allowed_cidrs": []string{"2001:db8::/32", "127.0.0.1"}}).credential(t, 200)
		if got := me(t, env, tok, nil); got.status != 200 {
			t.Fatalf("/me from an allowed address: %d %s", got.status, got.body)
		}
		// A bad list in an update changes nothing.
		before := stored(t, env, open.ClientID)
		c.call(t, http.MethodPatch, "/api/v1/credentials/"+open.ClientID, map[string]any{"allowed_cidrs": []string{"10.0.0.0/8", "nonsense"}}).problem(t, 422, "allowed_cidrs")
		sameCredential(t, before, stored(t, env, open.ClientID))
	})
}

// TestTrustedProxies checks that X-Forwarded-For counts only from a
// configured trusted proxy, and then only its rightmost untrusted hop.
func TestTrustedProxies(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		env := servertest.New(t, b, func(cfg *server.Config) {
			cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
		})
		acme := env.Org(t, "Acme")
		c := bearerCaller(t, env, acme.ID, "automation", builtins)
		limited := c.create(t, map[string]any{"name": "limited", "allowed_cidrs": []string{"192.0.2.0/24"}})
		id, secret := limited.ClientID, limited.ClientSecret
		from := func(xff ...string) http.Header { return http.Header{"X-Forwarded-For": xff} }

		wantTokenError(t, token(t, env, id, secret, nil, nil), 400, "unauthorized_client")
		wantTokenError(t, token(t, env, id, secret, nil, from("198.51.100.7")), 400, "unauthorized_client")
		// The client cannot prepend an address: the proxy appends the one
		// it saw, and that one counts.
		wantTokenError(t, token(t, env, id, secret, nil, from("192.0.2.9, 198.51.100.7")), 400, "unauthorized_client")
		wantTokenError(t, token(t, env, id, secret, nil, from("192.0.2.9", "198.51.100.7")), 400, "unauthorized_client")
		wantTokenError(t, token(t, env, id, secret, nil, from("not-an-address")), 400, "unauthorized_client")

		tok := token(t, env, id, secret, nil, from("192.0.2.9"))
		if tok.status != 200 {
			t.Fatalf("token through the trusted proxy: %d %s", tok.status, tok.body)
		}
		if got := me(t, env, tok.AccessToken, from("192.0.2.9")); got.status != 200 || got.ClientID != id {
			t.Fatalf("/me through the trusted proxy: %d %s", got.status, got.body)
		}
		// Through two trusted proxies, with an address the client made up
		// on the left.
		if got := me(t, env, tok.AccessToken, from("198.51.100.7, 192.0.2.200, 127.0.0.1")); got.status != 200 {
			t.Fatalf("/me through two proxies: %d %s", got.status, got.body)
		}
		wantInvalidToken(t, me(t, env, tok.AccessToken, nil))
		wantInvalidToken(t, me(t, env, tok.AccessToken, from("198.51.100.7")))
	})
}

func TestUpdate(t *testing.T) {
	forEachCaller(t, nil, func(t *testing.T, env *servertest.Env, acme store.Org, c *caller, clk *servertest.Clock) {
		target := c.create(t, map[string]any{"name": "billing", "scopes": []string{scope.CredentialsRead, scope.UsageRead}})
		other := c.create(t, map[string]any{"name": "reports"})
		path := "/api/v1/credentials/" + target.ClientID
		tok := mustToken(t, env, target.ClientID, target.ClientSecret)
		asTarget := http.Header{"Authorization": {"Bearer " + tok}}
		if r := send(t, http.MethodGet, env.URL+"/api/v1/usage", asTarget, nil); r.status != 200 {
			t.Fatalf("usage before the change: %d %s", r.status, r.body)
		}

		// Rename: trimmed, and visible to the token at once.
		if got := c.call(t, http.MethodPatch, path, map[string]any{"name": "  invoicing "}).credential(t, 200); got.Name != "invoicing" ||
			!slices.Equal(got.Scopes, target.Scopes) {
			t.Fatalf("renamed %+v", got)
		}
		if got := me(t, env, tok, nil); got.Name != "invoicing" {
			t.Fatalf("/me name %q after rename", got.Name)
		}

		refusals := []struct {
			name  string
			body  any
			field string
		}{
			{"empty name", map[string]any{"name": " "}, "name"},
			{"long name", map[string]any{"name": strings.Repeat("x", 65)}, "name"},
			{"control character", map[string]any{"name": "a\tb"}, "name"},
			{"another credential's name", map[string]any{"name": "Reports"}, "name"},
			{"scope not granted", map[string]any{"scopes": []string{scope.Introspect}}, "scopes"},
			{"unknown scope", map[string]any{"scopes": []string{"nope:read"}}, "scopes"},
			{"bad CIDR", map[string]any{"allowed_cidrs": []string{"192.0.2.0/40"}}, "allowed_cidrs"},
			{"good name, bad scope", map[string]any{"name": "fine", "scopes": []string{"nope:read"}}, "scopes"},
		}
		for _, tt := range refusals {
			t.Run(tt.name, func(t *testing.T) {
				before := stored(t, env, target.ClientID)
				c.call(t, http.MethodPatch, path, tt.body).problem(t, 422, tt.field)
				sameCredential(t, before, stored(t, env, target.ClientID))
			})
		}
		c.call(t, http.MethodPatch, "/api/v1/credentials/sapci_doesnotexist", map[string]any{"name": "x"}).problem(t, 404, "")

		// Removing a scope takes it from tokens issued before, at once.
		got := c.call(t, http.MethodPatch, path, map[string]any{"scopes": []string{scope.CredentialsRead}}).credential(t, 200)
		if !slices.Equal(got.Scopes, []string{scope.CredentialsRead}) || got.Name != "invoicing" {
			t.Fatalf("after scope removal %+v", got)
		}
		if m := me(t, env, tok, nil); m.status != 200 || !slices.Equal(m.Scopes, []string{scope.CredentialsRead}) {
			t.Fatalf("/me after scope removal: %d %s", m.status, m.body)
		}
		wantInsufficientScope(t, send(t, http.MethodGet, env.URL+"/api/v1/usage", asTarget, nil), scope.UsageRead)
		if r := send(t, http.MethodGet, env.URL+"/api/v1/credentials", asTarget, nil); r.status != 200 {
			t.Fatalf("a kept scope still works: %d %s", r.status, r.body)
		}
		// New tokens lack it too, and cannot ask for it.
		if tk := token(t, env, target.ClientID, target.ClientSecret, nil, nil); tk.status != 200 || tk.Scope != scope.CredentialsRead {
			t.Fatalf("new token: %d %s", tk.status, tk.body)
		}
		wantTokenError(t, token(t, env, target.ClientID, target.ClientSecret, url.Values{"scope": {scope.UsageRead}}, nil), 400, "invalid_scope")

		ev := auditEvents(t, env, acme.ID, audit.CredentialUpdated)
		if len(ev) != 2 || ev[0].Target != target.ClientID || ev[0].ActorLabel != c.label {
			t.Fatalf("audit events %+v, want two credential.updated for %s", ev, target.ClientID)
		}

		// A revoked credential cannot be changed.
		c.call(t, http.MethodDelete, "/api/v1/credentials/"+other.ClientID, nil).credential(t, 200)
		before := stored(t, env, other.ClientID)
		c.call(t, http.MethodPatch, "/api/v1/credentials/"+other.ClientID, map[string]any{"name": "revived"}).problem(t, 422, "status")
		sameCredential(t, before, stored(t, env, other.ClientID))
	})
}

func TestRoll(t *testing.T) {
	forEachCaller(t, nil, func(t *testing.T, env *servertest.Env, acme store.Org, c *caller, clk *servertest.Clock) {
		cr := c.create(t, map[string]any{"name": "billing"})
		id, s0 := cr.ClientID, cr.ClientSecret
		roll := func(t *testing.T, in string) reply {
			t.Helper()
			return c.call(t, http.MethodPost, "/api/v1/credentials/"+id+"/roll", map[string]any{"previous_secret_expires_in": in})
		}
		works := func(t *testing.T, secret string) {
			t.Helper()
			if r := token(t, env, id, secret, nil, nil); r.status != 200 {
				t.Fatalf("secret refused: %d %s", r.status, r.body)
			}
		}
		fails := func(t *testing.T, secret string) {
			t.Helper()
			wantTokenError(t, token(t, env, id, secret, nil, nil), 401, "invalid_client")
		}

		for _, bad := range []string{"2h", "-1h", "1", "forever", "720h"} {
			t.Run("refused "+bad, func(t *testing.T) {
				before := stored(t, env, id)
				roll(t, bad).problem(t, 422, "previous_secret_expires_in")
				sameCredential(t, before, stored(t, env, id))
				works(t, s0)
			})
		}

		// 1h: both secrets work until the old one's time is up.
		r1 := roll(t, "1h").credential(t, 200)
		s1 := r1.ClientSecret
		until := clk.Now().Add(time.Hour)
		if s1 == "" || s1 == s0 || r1.PreviousSecretExpiresAt == nil || !r1.PreviousSecretExpiresAt.Equal(until) {
			t.Fatalf("roll answered %+v", r1)
		}
		works(t, s0)
		works(t, s1)
		l := c.list(t, "")
		i := slices.IndexFunc(l, func(x api.Credential) bool { return x.ClientID == id })
		if i < 0 || l[i].PreviousSecretExpiresAt == nil || !l[i].PreviousSecretExpiresAt.Equal(until) {
			t.Fatalf("list does not show until when the previous secret works: %+v", l)
		}
		clk.Add(time.Hour - time.Second)
		works(t, s0)
		clk.Add(time.Second)
		fails(t, s0)
		works(t, s1)
		c.renew(t) // the caller's own token or session has timed out meanwhile
		if got := c.get(t, id); got.PreviousSecretExpiresAt != nil {
			t.Fatalf("previous_secret_expires_at %v shown after it passed", got.PreviousSecretExpiresAt)
		}

		// A second roll replaces the previous secret: only the latest old
		// one keeps working.
		s2 := roll(t, "24h").credential(t, 200).ClientSecret
		s3 := roll(t, "168h").credential(t, 200).ClientSecret
		fails(t, s1)
		works(t, s2)
		works(t, s3)

		// 0s: the old secret stops at once, and so does an overlap still
		// running.
		r4 := roll(t, "0s").credential(t, 200)
		if r4.PreviousSecretExpiresAt != nil {
			t.Fatalf("0s roll shows previous_secret_expires_at %v", r4.PreviousSecretExpiresAt)
		}
		fails(t, s2)
		fails(t, s3)
		works(t, r4.ClientSecret)

		ev := auditEvents(t, env, acme.ID, audit.CredentialRolled)
		if len(ev) != 4 {
			t.Fatalf("%d credential.secret_rolled events, want 4", len(ev))
		}
		for _, e := range ev {
			for _, s := range []string{s0, s1, s2, s3, r4.ClientSecret} {
				if strings.Contains(e.Detail, s) {
					t.Fatalf("audit event holds a secret: %+v", e)
				}
			}
		}

		c.call(t, http.MethodPost, "/api/v1/credentials/sapci_doesnotexist/roll", map[string]any{"previous_secret_expires_in": "1h"}).problem(t, 404, "")
		// A revoked credential gets no new secret.
		c.call(t, http.MethodDelete, "/api/v1/credentials/"+id, nil).credential(t, 200)
		before := stored(t, env, id)
		roll(t, "1h").problem(t, 422, "status")
		sameCredential(t, before, stored(t, env, id))
	})
}

func TestRevoke(t *testing.T) {
	forEachCaller(t, nil, func(t *testing.T, env *servertest.Env, acme store.Org, c *caller, clk *servertest.Clock) {
		cr := c.create(t, map[string]any{"name": "billing"})
		keep := c.create(t, map[string]any{"name": "keep"})
		tok := mustToken(t, env, cr.ClientID, cr.ClientSecret)
		keepTok := mustToken(t, env, keep.ClientID, keep.ClientSecret)
		path := "/api/v1/credentials/" + cr.ClientID

		first := c.call(t, http.MethodDelete, path, nil).credential(t, 200)
		if first.Status != "revoked" || first.RevokedAt == nil || !first.RevokedAt.Equal(clk.Now()) || first.RevokedBy != c.label {
			t.Fatalf("revoked %+v", first)
		}
		wantTokenError(t, token(t, env, cr.ClientID, cr.ClientSecret, nil, nil), 401, "invalid_client")
		wantInvalidToken(t, me(t, env, tok, nil))
		if got := me(t, env, keepTok, nil); got.status != 200 {
			t.Fatalf("another credential's token refused: %d %s", got.status, got.body)
		}

		// Revoking again is harmless and keeps the first revocation.
		clk.Add(time.Minute)
		again := c.call(t, http.MethodDelete, path, nil).credential(t, 200)
		if again.Status != "revoked" || again.RevokedAt == nil || !again.RevokedAt.Equal(*first.RevokedAt) {
			t.Fatalf("second revoke %+v, want revoked_at %v kept", again, first.RevokedAt)
		}
		// It stays listed, as revoked.
		l := c.list(t, "")
		i := slices.IndexFunc(l, func(x api.Credential) bool { return x.ClientID == cr.ClientID })
		if i < 0 || l[i].Status != "revoked" {
			t.Fatalf("list after revoke: %+v", l)
		}
		if ev := auditEvents(t, env, acme.ID, audit.CredentialRevoked); len(ev) != 1 || ev[0].Target != cr.ClientID {
			t.Fatalf("audit events %+v, want one credential.revoked", ev)
		}
		c.call(t, http.MethodDelete, "/api/v1/credentials/sapci_doesnotexist", nil).problem(t, 404, "")
		if got := c.get(t, keep.ClientID); got.Status != "active" {
			t.Fatalf("the other credential is %s", got.Status)
		}
	})
}

// TestWithdrawScope checks that a scope withdrawn from an organisation
// leaves new tokens and is refused on old ones within the polling delay.
func TestWithdrawScope(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		env := servertest.New(t, b)
		acme := env.Org(t, "Acme")
		if _, err := scope.Create(t.Context(), env.Store, access.CLI, "shipments:read", "", time.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := org.Grant(t.Context(), env.Store, access.CLI, acme.ID, []string{"shipments:read"}, time.Now); err != nil {
			t.Fatal(err)
		}
		c := env.Credential(t, acme.ID, "billing", []string{scope.CredentialsRead, scope.UsageRead, "shipments:read"})
		tok := mustToken(t, env, c.Credential.ClientID, c.Secret)
		auth := http.Header{"Authorization": {"Bearer " + tok}}
		if r := send(t, http.MethodGet, env.URL+"/api/v1/usage", auth, nil); r.status != 200 {
			t.Fatalf("usage before: %d %s", r.status, r.body)
		}

		if _, err := org.Withdraw(t.Context(), env.Store, access.CLI, acme.ID, []string{scope.UsageRead, "shipments:read"}, time.Now); err != nil {
			t.Fatal(err)
		}
		afterSync(t, env, "old token refused for the withdrawn scope", func() bool {
			return send(t, http.MethodGet, env.URL+"/api/v1/usage", auth, nil).status == http.StatusForbidden
		})
		wantInsufficientScope(t, send(t, http.MethodGet, env.URL+"/api/v1/usage", auth, nil), scope.UsageRead)
		if m := me(t, env, tok, nil); m.status != 200 || !slices.Equal(m.Scopes, []string{scope.CredentialsRead}) {
			t.Fatalf("/me after withdrawal: %d %s", m.status, m.body)
		}
		if r := send(t, http.MethodGet, env.URL+"/api/v1/credentials", auth, nil); r.status != 200 {
			t.Fatalf("a scope still granted was refused: %d %s", r.status, r.body)
		}
		if tk := token(t, env, c.Credential.ClientID, c.Secret, nil, nil); tk.status != 200 || tk.Scope != scope.CredentialsRead {
			t.Fatalf("new token: %d %s", tk.status, tk.body)
		}
		wantTokenError(t, token(t, env, c.Credential.ClientID, c.Secret, url.Values{"scope": {"shipments:read"}}, nil), 400, "invalid_scope")

		// A customer can no longer grant it.
		alice := sessionCaller(t, env, "alice@acme.test", store.RoleCustomer, acme.ID)
		alice.call(t, http.MethodPost, "/api/v1/credentials", map[string]any{"name": "x", "scopes": []string{scope.UsageRead}}).problem(t, 422, "scopes")

		// Granting it again gives it back to the credentials that hold it.
		if _, err := org.Grant(t.Context(), env.Store, access.CLI, acme.ID, []string{scope.UsageRead}, time.Now); err != nil {
			t.Fatal(err)
		}
		afterSync(t, env, "scope granted again", func() bool {
			return send(t, http.MethodGet, env.URL+"/api/v1/usage", auth, nil).status == http.StatusOK
		})
	})
}

// usageOf sums a credential's stored usage after writing what is pending.
func usageOf(t *testing.T, env *servertest.Env, clientID string) store.UsageBucket {
	t.Helper()
	if err := env.Server.Usage.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	list, err := env.Store.ListUsage(t.Context(), store.UsageFilter{ClientID: clientID})
	if err != nil {
		t.Fatal(err)
	}
	var sum store.UsageBucket
	for _, b := range list {
		sum.TokensIssued += b.TokensIssued
		sum.TokensRefused += b.TokensRefused
		sum.APICalls += b.APICalls
		sum.APIRefused += b.APIRefused
	}
	return sum
}

// waitRateLimitAudit waits for the asynchronous audit of a credential that
// hit its rate limit.
func waitRateLimitAudit(t *testing.T, env *servertest.Env, orgID, clientID, where string) {
	t.Helper()
	eventually(t, "credential.rate_limited audit event", func() bool {
		for _, e := range auditEvents(t, env, orgID, audit.CredentialRateLimit) {
			if e.Target == clientID && strings.Contains(e.Detail, where) {
				return true
			}
		}
		return false
	})
}

func wantRetryAfter(t *testing.T, r reply) {
	t.Helper()
	n, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || n < 1 {
		t.Fatalf("Retry-After %q, want a whole number of seconds, at least 1", r.header.Get("Retry-After"))
	}
}

func TestRateLimits(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		t.Run("token endpoint", func(t *testing.T) {
			clk := servertest.NewClock()
			env := servertest.New(t, b, servertest.WithClock(clk), func(cfg *server.Config) { cfg.TokenRateLimit = 2 })
			acme := env.Org(t, "Acme")
			c := env.Credential(t, acme.ID, "billing", nil)
			other := env.Credential(t, acme.ID, "other", nil)
			id := c.Credential.ClientID
			for i := range 2 {
				if r := token(t, env, id, c.Secret, nil, nil); r.status != 200 {
					t.Fatalf("request %d: %d %s", i+1, r.status, r.body)
				}
			}
			r := token(t, env, id, c.Secret, nil, nil)
			wantTokenError(t, r, http.StatusTooManyRequests, "too_many_requests")
			wantRetryAfter(t, r.reply)
			if cc := r.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q", cc)
			}
			// The limit is per credential.
			if r := token(t, env, other.Credential.ClientID, other.Secret, nil, nil); r.status != 200 {
				t.Fatalf("another credential limited too: %d %s", r.status, r.body)
			}
			// A second later the bucket has refilled.
			clk.Add(time.Second)
			if r := token(t, env, id, c.Secret, nil, nil); r.status != 200 {
				t.Fatalf("after a second: %d %s", r.status, r.body)
			}
			waitRateLimitAudit(t, env, acme.ID, id, "token endpoint")
			if u := usageOf(t, env, id); u.TokensIssued != 3 || u.TokensRefused != 1 {
				t.Fatalf("usage %+v, want 3 issued and 1 refused", u)
			}
		})

		t.Run("API", func(t *testing.T) {
			clk := servertest.NewClock()
			env := servertest.New(t, b, servertest.WithClock(clk), func(cfg *server.Config) { cfg.APIRateLimit = 2 })
			acme := env.Org(t, "Acme")
			c := env.Credential(t, acme.ID, "billing", nil)
			id := c.Credential.ClientID
			tok := mustToken(t, env, id, c.Secret)
			for i := range 2 {
				if r := me(t, env, tok, nil); r.status != 200 {
					t.Fatalf("call %d: %d %s", i+1, r.status, r.body)
				}
			}
			r := send(t, http.MethodGet, env.URL+"/api/v1/credentials", http.Header{"Authorization": {"Bearer " + tok}}, nil)
			r.problem(t, http.StatusTooManyRequests, "")
			wantRetryAfter(t, r)
			waitRateLimitAudit(t, env, acme.ID, id, "API")
			if u := usageOf(t, env, id); u.APICalls != 2 || u.APIRefused != 1 {
				t.Fatalf("usage %+v, want 2 calls and 1 refused", u)
			}
		})

		// The token endpoint and the API have separate budgets: using one
		// neither spends nor resets the other.
		t.Run("separate budgets", func(t *testing.T) {
			clk := servertest.NewClock()
			env := servertest.New(t, b, servertest.WithClock(clk), func(cfg *server.Config) {
				cfg.TokenRateLimit = 2
				cfg.APIRateLimit = 2
			})
			acme := env.Org(t, "Acme")
			c := env.Credential(t, acme.ID, "billing", nil)
			id := c.Credential.ClientID
			tok := mustToken(t, env, id, c.Secret)
			if r := me(t, env, tok, nil); r.status != 200 {
				t.Fatalf("first API call: %d %s", r.status, r.body)
			}
			if r := token(t, env, id, c.Secret, nil, nil); r.status != 200 {
				t.Fatalf("second token request: %d %s", r.status, r.body)
			}
			if r := me(t, env, tok, nil); r.status != 200 {
				t.Fatalf("second API call after two token requests: %d %s", r.status, r.body)
			}
			wantTokenError(t, token(t, env, id, c.Secret, nil, nil), http.StatusTooManyRequests, "too_many_requests")
			if r := me(t, env, tok, nil); r.status != http.StatusTooManyRequests {
				t.Fatalf("third API call: %d %s", r.status, r.body)
			}

			// With different limits, alternating does not reset either.
			env2 := servertest.New(t, b, servertest.WithClock(clk), func(cfg *server.Config) { cfg.TokenRateLimit = 2 })
			acme2 := env2.Org(t, "Acme")
			c2 := env2.Credential(t, acme2.ID, "billing", nil)
			for i := range 2 {
				tok := mustToken(t, env2, c2.Credential.ClientID, c2.Secret)
				if r := me(t, env2, tok, nil); r.status != 200 {
					t.Fatalf("API call %d: %d %s", i+1, r.status, r.body)
				}
			}
			wantTokenError(t, token(t, env2, c2.Credential.ClientID, c2.Secret, nil, nil), http.StatusTooManyRequests, "too_many_requests")
		})

		t.Run("per organisation", func(t *testing.T) {
			clk := servertest.NewClock()
			env := servertest.New(t, b, servertest.WithClock(clk), func(cfg *server.Config) {
				cfg.TokenRateLimit = 100
				cfg.APIRateLimit = 100
			})
			acme, beta := env.Org(t, "Acme"), env.Org(t, "Beta")
			a := env.Credential(t, acme.ID, "a", nil)
			bc := env.Credential(t, beta.ID, "b", nil)
			// Beta is in use before its limits change, so its state is
			// cached and the change must arrive by polling.
			btok := mustToken(t, env, bc.Credential.ClientID, bc.Secret)
			if _, err := org.SetLimits(t.Context(), env.Store, access.CLI, beta.ID, 1, 1, time.Now); err != nil {
				t.Fatal(err)
			}
			if _, err := org.SetLimits(t.Context(), env.Store, access.CLI, beta.ID, -1, 1, time.Now); err == nil {
				t.Fatal("SetLimits accepted a negative rate")
			}
			afterSync(t, env, "Beta's new limits", func() bool {
				o, err := env.Server.Orgs.Lookup(t.Context(), beta.ID)
				return err == nil && o.TokenRateLimit == 1 && o.APIRateLimit == 1
			})
			if r := token(t, env, bc.Credential.ClientID, bc.Secret, nil, nil); r.status != 200 {
				t.Fatalf("Beta's first token request: %d %s", r.status, r.body)
			}
			wantTokenError(t, token(t, env, bc.Credential.ClientID, bc.Secret, nil, nil), http.StatusTooManyRequests, "too_many_requests")
			if r := me(t, env, btok, nil); r.status != 200 {
				t.Fatalf("Beta's first API call: %d %s", r.status, r.body)
			}
			if r := me(t, env, btok, nil); r.status != http.StatusTooManyRequests {
				t.Fatalf("Beta's second API call: %d %s", r.status, r.body)
			}
			// Acme keeps the server's default.
			for i := range 5 {
				tok := token(t, env, a.Credential.ClientID, a.Secret, nil, nil)
				if tok.status != 200 {
					t.Fatalf("Acme's token request %d: %d %s", i+1, tok.status, tok.body)
				}
				if r := me(t, env, tok.AccessToken, nil); r.status != 200 {
					t.Fatalf("Acme's API call %d: %d %s", i+1, r.status, r.body)
				}
			}
			waitRateLimitAudit(t, env, beta.ID, bc.Credential.ClientID, "")
			if ev := auditEvents(t, env, acme.ID, audit.CredentialRateLimit); len(ev) != 0 {
				t.Fatalf("Acme audited for rate limits: %+v", ev)
			}
			if u := usageOf(t, env, bc.Credential.ClientID); u.TokensRefused != 1 || u.APIRefused != 1 || u.TokensIssued != 2 || u.APICalls != 1 {
				t.Fatalf("Beta's usage %+v", u)
			}
		})
	})
}

// TestBadInput checks that malformed requests get a problem and change
// nothing.
func TestBadInput(t *testing.T) {
	forEachCaller(t, nil, func(t *testing.T, env *servertest.Env, acme store.Org, c *caller, clk *servertest.Clock) {
		cr := c.create(t, map[string]any{"name": "billing"})
		tests := []struct {
			name   string
			ctype  string
			body   string
			status int
		}{
			{"text/plain", "text/plain", `{"name":"x"}`, 415},
			{"form", "application/x-www-form-urlencoded", `name=x`, 415},
			{"no content type", "", `{"name":"x"}`, 415},
			{"unknown field", "application/json", `{"name":"x","admin":true}`, 400},
			{"malformed", "application/json", `{"name":`, 400},
			{"not an object", "application/json", `["name"]`, 400},
			{"wrong type", "application/json", `{"name":5}`, 400},
			{"two objects", "application/json", `{"name":"x"}{"name":"y"}`, 400},
			{"empty body", "application/json", ``, 400},
			{"too large", "application/json", `{"name":"` + strings.Repeat("a", 70<<10) + `"}`, 400},
		}
		targets := []struct{ method, path string }{
			{http.MethodPost, "/api/v1/credentials"},
			{http.MethodPatch, "/api/v1/credentials/" + cr.ClientID},
			{http.MethodPost, "/api/v1/credentials/" + cr.ClientID + "/roll"},
		}
		for _, target := range targets {
			for _, tt := range tests {
				t.Run(target.method+" "+target.path+" "+tt.name, func(t *testing.T) {
					beforeList := c.listIDs(t, "")
					before := stored(t, env, cr.ClientID)
					c.raw(t, target.method, target.path, tt.ctype, tt.body, nil).problem(t, tt.status, "")
					if after := c.listIDs(t, ""); !slices.Equal(beforeList, after) {
						t.Fatalf("list changed from %v to %v", beforeList, after)
					}
					sameCredential(t, before, stored(t, env, cr.ClientID))
				})
			}
		}
		// The secret still works: no roll happened.
		if r := token(t, env, cr.ClientID, cr.ClientSecret, nil, nil); r.status != 200 {
			t.Fatalf("secret after bad input: %d %s", r.status, r.body)
		}
		c.call(t, http.MethodGet, "/api/v1/nope", nil).problem(t, 404, "")
		c.call(t, http.MethodGet, "/api/v1/credentials/sapci_doesnotexist", nil).problem(t, 404, "")
	})
}

// TestNoCredentialNoAccess checks the RFC 6750 answers of the management
// API: no token, a bad one, a token without the scope.
func TestNoCredentialNoAccess(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		env := servertest.New(t, b)
		acme := env.Org(t, "Acme")
		reader := env.Credential(t, acme.ID, "reader", []string{scope.CredentialsRead})
		tok := mustToken(t, env, reader.Credential.ClientID, reader.Secret)
		auth := http.Header{"Authorization": {"Bearer " + tok}, "Content-Type": {"application/json"}}
		r := send(t, http.MethodPost, env.URL+"/api/v1/credentials", auth, strings.NewReader(`{"name":"x"}`))
		wantInsufficientScope(t, r, scope.CredentialsWrite)
		wantInsufficientScope(t, send(t, http.MethodGet, env.URL+"/api/v1/audit", auth, nil), scope.AuditRead)
		for _, h := range []http.Header{{}, {"Authorization": {"Bearer not-a-token"}}, {"Cookie": {"sapient_session=forged"}}} {
			got := meReply{reply: send(t, http.MethodGet, env.URL+"/api/v1/credentials", h, nil)}
			got.decode(t, &got)
			wantInvalidToken(t, got)
		}
		if l, _ := env.Store.ListCredentials(t.Context(), store.CredentialFilter{OrgID: acme.ID}); len(l) != 1 {
			t.Fatalf("%d credentials, want 1", len(l))
		}
	})
}

// TestRollCannotExceedCaller checks that a credential acting through its
// token cannot take over a credential holding scopes it lacks by rolling
// its secret: the new secret would give it that credential's power.
func TestRollCannotExceedCaller(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		env := servertest.New(t, b)
		acme := env.Org(t, "Acme")
		c := bearerCaller(t, env, acme.ID, "automation", []string{scope.CredentialsRead, scope.CredentialsWrite})
		powerful := env.Credential(t, acme.ID, "auditor", []string{scope.AuditRead, scope.CredentialsRead})
		weaker := env.Credential(t, acme.ID, "reader", []string{scope.CredentialsRead})

		before := stored(t, env, powerful.Credential.ClientID)
		for _, in := range []string{"0s", "1h"} {
			c.call(t, http.MethodPost, "/api/v1/credentials/"+powerful.Credential.ClientID+"/roll",
				map[string]any{"previous_secret_expires_in": in}).problem(t, 422, "scopes")
		}
		sameCredential(t, before, stored(t, env, powerful.Credential.ClientID))
		if r := token(t, env, powerful.Credential.ClientID, powerful.Secret, nil, nil); r.status != 200 {
			t.Fatalf("the powerful credential's secret: %d %s", r.status, r.body)
		}
		if ev := auditEvents(t, env, acme.ID, audit.CredentialRolled); len(ev) != 0 {
			t.Fatalf("refused roll audited: %+v", ev)
		}

		// A credential within the caller's own scopes may be rolled.
		if r := c.call(t, http.MethodPost, "/api/v1/credentials/"+weaker.Credential.ClientID+"/roll",
			map[string]any{"previous_secret_expires_in": "0s"}).credential(t, 200); r.ClientSecret == "" {
			t.Fatalf("roll of a weaker credential: %+v", r)
		}
		// A console user of the organisation may roll any of its
		// credentials.
		alice := sessionCaller(t, env, "alice@acme.test", store.RoleCustomer, acme.ID)
		if r := alice.call(t, http.MethodPost, "/api/v1/credentials/"+powerful.Credential.ClientID+"/roll",
			map[string]any{"previous_secret_expires_in": "0s"}).credential(t, 200); r.ClientSecret == "" {
			t.Fatalf("roll by a customer: %+v", r)
		}
	})
}
