package cli_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"sapient.dev/sapient/internal/server"
	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store/storetest"
)

// The tests of this file hold the administration CLI to the rules of the
// credential lifecycle: each change it makes reaches a running instance on
// the same database within the polling delay, and every bad input gets
// one "sapient: ..." line, exit status 1, and changes nothing.

// lcClock is a time source for the instance that stands still unless the
// test moves it, so that rate limits do not depend on the machine's speed.
type lcClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *lcClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// lcCred is a credential as the CLI prints it with --json.
type lcCred struct {
	ClientID                string     `json:"client_id"`
	ClientSecret            string     `json:"client_secret"`
	Name                    string     `json:"name"`
	OrgID                   string     `json:"org_id"`
	Scopes                  []string   `json:"scopes"`
	Status                  string     `json:"status"`
	AllowedCIDRs            []string   `json:"allowed_cidrs"`
	RevokedAt               *time.Time `json:"revoked_at"`
	ExpiresAt               *time.Time `json:"expires_at"`
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at"`
}

// lcOrg is an organisation as the CLI prints it with --json.
type lcOrg struct {
	ID             string   `json:"id"`
	Name           string   `json:"name"`
	Scopes         []string `json:"scopes"`
	TokenRateLimit int      `json:"token_rate_limit"`
	APIRateLimit   int      `json:"api_rate_limit"`
}

// lifecycle is the CLI and a running instance on one database.
type lifecycle struct {
	s   *sapient
	env *servertest.Env
}

func newLifecycle(t *testing.T, b storetest.Backend) *lifecycle {
	t.Helper()
	s := newSapient(t, b)
	s.ok(t, "", "orgs", "create", "Acme")
	clk := &lcClock{t: time.Now().UTC()}
	env := servertest.Start(t, s.env["SAPIENT_DATABASE_URL"], func(cfg *server.Config) { cfg.Now = clk.Now })
	return &lifecycle{s: s, env: env}
}

// state is what the CLI lists of every credential and organisation, less
// the last-use fields that the running instance moves.
func (l *lifecycle) state(t *testing.T) string {
	t.Helper()
	creds := okJSON[[]lcCred](t, l.s, "", "credentials", "list", "--json")
	orgs := okJSON[[]lcOrg](t, l.s, "", "orgs", "list", "--json")
	b, err := json.Marshal(map[string]any{"credentials": creds, "orgs": orgs})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// refused runs a command that must fail with one line naming want, and
// checks that it changed nothing.
func (l *lifecycle) refused(t *testing.T, want string, args ...string) {
	t.Helper()
	before := l.state(t)
	line := l.s.fails(t, "", args...)
	if !strings.Contains(strings.ToLower(line), strings.ToLower(want)) {
		t.Errorf("sapient %s: %q does not say %q", strings.Join(args, " "), line, want)
	}
	if after := l.state(t); after != before {
		t.Fatalf("sapient %s failed but changed data:\nbefore %s\nafter  %s", strings.Join(args, " "), before, after)
	}
}

func (l *lifecycle) create(t *testing.T, args ...string) lcCred {
	t.Helper()
	c := okJSON[lcCred](t, l.s, "", append([]string{"credentials", "create", "--org", "Acme", "--json"}, args...)...)
	if c.ClientID == "" || c.ClientSecret == "" || c.Status != "active" {
		t.Fatalf("created %+v", c)
	}
	return c
}

// tokenStatus asks the instance for a token and returns the status, the
// error code or the token, and the scope.
func (l *lifecycle) token(t *testing.T, id, secret string) (status int, errOrToken, scope string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, l.env.URL+"/connect/token",
		strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret))))
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
		Scope       string `json:"scope"`
		Error       string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("token endpoint answered %d without JSON: %v", resp.StatusCode, err)
	}
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, out.AccessToken, out.Scope
	}
	return resp.StatusCode, out.Error, ""
}

func (l *lifecycle) mustToken(t *testing.T, id, secret string) string {
	t.Helper()
	status, tok, _ := l.token(t, id, secret)
	if status != http.StatusOK {
		t.Fatalf("token for %s: %d %s", id, status, tok)
	}
	return tok
}

// get calls the API with a bearer token and returns the status.
func (l *lifecycle) get(t *testing.T, path, tok string) int {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, l.env.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// eventually takes one sync step on the instance, as its background loop
// does every 250 ms, and checks cond: a change made with the CLI is then
// applied.
func (l *lifecycle) eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if err := l.env.Server.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !cond() {
		t.Fatalf("%s: not after a sync step", what)
	}
}

func TestLifecycleCreate(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		l := newLifecycle(t, b)
		l.s.ok(t, "", "scopes", "create", "shipments:read")
		l.create(t, "--name", "billing")

		limited := l.create(t, "--name", "limited", "--allowed-ips", "2001:DB8::1/32, 192.0.2.7/24  198.51.100.1")
		if want := []string{"192.0.2.0/24", "198.51.100.1/32", "2001:db8::/32"}; !slices.Equal(limited.AllowedCIDRs, want) {
			t.Fatalf("allowed_cidrs %q, want %q", limited.AllowedCIDRs, want)
		}
		if status, code, _ := l.token(t, limited.ClientID, limited.ClientSecret); status != 400 || code != "unauthorized_client" {
			t.Fatalf("token from a disallowed address: %d %s", status, code)
		}

		expiresAt := time.Now().UTC().Add(48 * time.Hour).Truncate(time.Second)
		exp := l.create(t, "--name", "temporary", "--expires", expiresAt.Format(time.RFC3339), "--scopes", "usage:read audit:read")
		if exp.ExpiresAt == nil || !exp.ExpiresAt.Equal(expiresAt) || !slices.Equal(exp.Scopes, []string{"audit:read", "usage:read"}) {
			t.Fatalf("created %+v", exp)
		}
		if status, _, scope := l.token(t, exp.ClientID, exp.ClientSecret); status != 200 || scope != "audit:read usage:read" {
			t.Fatalf("token: %d %q", status, scope)
		}
		// The CLI acts as an Admin: any defined scope, the organisation's
		// grant widened for an ordinary one.
		wide := l.create(t, "--name", "wide", "--scopes", "shipments:read sapient:introspect")
		if !slices.Equal(wide.Scopes, []string{"sapient:introspect", "shipments:read"}) {
			t.Fatalf("scopes %q", wide.Scopes)
		}
		orgs := okJSON[[]lcOrg](t, l.s, "", "orgs", "list", "--json")
		if !slices.Contains(orgs[0].Scopes, "shipments:read") || slices.Contains(orgs[0].Scopes, "sapient:introspect") {
			t.Fatalf("organisation grant %q", orgs[0].Scopes)
		}

		refusals := []struct {
			name, want string
			args       []string
		}{
			{"expiry in the past", "future", []string{"--name", "x", "--expires", time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)}},
			{"expiry not RFC 3339", "RFC 3339", []string{"--name", "x", "--expires", "tomorrow"}},
			{"bad CIDR", "192.0.2.0/33", []string{"--name", "x", "--allowed-ips", "192.0.2.0/33"}},
			{"one bad CIDR among good", "nonsense", []string{"--name", "x", "--allowed-ips", "10.0.0.0/8, nonsense"}},
			{"unknown scope", "nope:read", []string{"--name", "x", "--scopes", "nope:read"}},
			{"empty name", "name", []string{"--name", "  "}},
			{"long name", "64", []string{"--name", strings.Repeat("n", 65)}},
			{"control character", "control", []string{"--name", "a\x1bb"}},
			{"duplicate name", "already exists", []string{"--name", "Billing"}},
			{"unknown organisation", "no organisation", []string{"--name", "x", "--org", "Nope"}},
		}
		for _, tt := range refusals {
			t.Run(tt.name, func(t *testing.T) {
				l.refused(t, tt.want, append([]string{"credentials", "create", "--org", "Acme", "--json"}, tt.args...)...)
			})
		}
	})
}

func TestLifecycleUpdate(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		l := newLifecycle(t, b)
		c := l.create(t, "--name", "billing", "--scopes", "credentials:read usage:read")
		l.create(t, "--name", "reports")
		tok := l.mustToken(t, c.ClientID, c.ClientSecret)
		if st := l.get(t, "/api/v1/usage", tok); st != 200 {
			t.Fatalf("usage before: %d", st)
		}

		got := okJSON[lcCred](t, l.s, "", "credentials", "update", c.ClientID, "--name", "  invoicing ", "--json")
		if got.Name != "invoicing" || !slices.Equal(got.Scopes, c.Scopes) {
			t.Fatalf("renamed %+v", got)
		}

		// Removing a scope reaches the running instance: the token held
		// before is refused for it.
		got = okJSON[lcCred](t, l.s, "", "credentials", "update", c.ClientID, "--scopes", "credentials:read", "--json")
		if !slices.Equal(got.Scopes, []string{"credentials:read"}) || got.Name != "invoicing" {
			t.Fatalf("after scope removal %+v", got)
		}
		l.eventually(t, "scope removal reaching the instance", func() bool { return l.get(t, "/api/v1/usage", tok) == http.StatusForbidden })
		if st := l.get(t, "/api/v1/credentials", tok); st != 200 {
			t.Fatalf("kept scope refused: %d", st)
		}

		// An allow-list set by the CLI refuses the token; clearing it
		// lets it through again.
		got = okJSON[lcCred](t, l.s, "", "credentials", "update", c.ClientID, "--allowed-ips", "192.0.2.0/24 2001:db8::/32", "--json")
		if !slices.Equal(got.AllowedCIDRs, []string{"192.0.2.0/24", "2001:db8::/32"}) {
			t.Fatalf("allowed_cidrs %q", got.AllowedCIDRs)
		}
		l.eventually(t, "allow-list reaching the instance", func() bool { return l.get(t, "/api/v1/me", tok) == http.StatusUnauthorized })
		got = okJSON[lcCred](t, l.s, "", "credentials", "update", c.ClientID, "--allowed-ips", "", "--json")
		if len(got.AllowedCIDRs) != 0 {
			t.Fatalf("allowed_cidrs %q after clearing", got.AllowedCIDRs)
		}
		l.eventually(t, "cleared allow-list reaching the instance", func() bool { return l.get(t, "/api/v1/me", tok) == http.StatusOK })

		refusals := []struct {
			name, want string
			args       []string
		}{
			{"nothing to change", "nothing to change", []string{c.ClientID}},
			{"empty name", "name", []string{c.ClientID, "--name", ""}},
			{"long name", "64", []string{c.ClientID, "--name", strings.Repeat("n", 65)}},
			{"another credential's name", "name", []string{c.ClientID, "--name", "REPORTS"}},
			{"unknown scope", "nope:read", []string{c.ClientID, "--scopes", "usage:read nope:read"}},
			{"bad CIDR", "10.0.0.256", []string{c.ClientID, "--allowed-ips", "10.0.0.256"}},
			{"unknown client ID", "no credential", []string{"sapci_doesnotexist", "--name", "x"}},
			{"no client ID", "arg", []string{"--name", "x"}},
		}
		for _, tt := range refusals {
			t.Run(tt.name, func(t *testing.T) {
				l.refused(t, tt.want, append([]string{"credentials", "update"}, tt.args...)...)
			})
		}

		l.s.ok(t, "", "credentials", "revoke", c.ClientID)
		l.refused(t, "revoked", "credentials", "update", c.ClientID, "--name", "revived")
	})
}

func TestLifecycleRoll(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		l := newLifecycle(t, b)
		c := l.create(t, "--name", "billing")
		id, s0 := c.ClientID, c.ClientSecret
		works := func(t *testing.T, secret string) bool {
			st, _, _ := l.token(t, id, secret)
			return st == http.StatusOK
		}
		refused := func(t *testing.T, secret string) bool {
			st, code, _ := l.token(t, id, secret)
			return st == http.StatusUnauthorized && code == "invalid_client"
		}
		if !works(t, s0) { // the instance has the credential cached now
			t.Fatal("first secret refused")
		}

		start := time.Now()
		r1 := okJSON[lcCred](t, l.s, "", "credentials", "roll", id, "--previous-valid", "1h", "--json")
		end := time.Now()
		if r1.ClientSecret == "" || r1.ClientSecret == s0 || r1.PreviousSecretExpiresAt == nil ||
			r1.PreviousSecretExpiresAt.Before(start.Add(time.Hour).Truncate(time.Microsecond)) || r1.PreviousSecretExpiresAt.After(end.Add(time.Hour)) {
			t.Fatalf("roll printed %+v (rolled between %v and %v)", r1, start, end)
		}
		l.eventually(t, "new secret reaching the instance", func() bool { return works(t, r1.ClientSecret) })
		if !works(t, s0) {
			t.Fatal("old secret refused during its hour")
		}

		// The default is to stop the old secret at once.
		r2 := okJSON[lcCred](t, l.s, "", "credentials", "roll", id, "--json")
		if r2.PreviousSecretExpiresAt != nil {
			t.Fatalf("roll without --previous-valid printed previous_secret_expires_at %v", r2.PreviousSecretExpiresAt)
		}
		l.eventually(t, "second roll reaching the instance", func() bool {
			return works(t, r2.ClientSecret) && refused(t, r1.ClientSecret) && refused(t, s0)
		})
		if out := l.s.ok(t, "", "credentials", "roll", id, "--previous-valid", "24h"); !strings.Contains(out, "previous secret works until") {
			t.Fatalf("roll printed %q", out)
		}

		refusals := []struct {
			name, want string
			args       []string
		}{
			{"negative overlap", "1h, 24h or 168h", []string{id, "--previous-valid", "-1h"}},
			{"overlap too long", "1h, 24h or 168h", []string{id, "--previous-valid", "721h"}},
			{"overlap not offered", "1h, 24h or 168h", []string{id, "--previous-valid", "2h"}},
			{"not a duration", "previous-valid", []string{id, "--previous-valid", "a while"}},
			{"unknown client ID", "no credential", []string{"sapci_doesnotexist"}},
		}
		for _, tt := range refusals {
			t.Run(tt.name, func(t *testing.T) {
				l.refused(t, tt.want, append([]string{"credentials", "roll"}, tt.args...)...)
			})
		}
		l.s.ok(t, "", "credentials", "revoke", id)
		l.refused(t, "active", "credentials", "roll", id, "--previous-valid", "1h")
	})
}

func TestLifecycleRevoke(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		l := newLifecycle(t, b)
		c := l.create(t, "--name", "billing")
		keep := l.create(t, "--name", "keep")
		tok := l.mustToken(t, c.ClientID, c.ClientSecret)
		keepTok := l.mustToken(t, keep.ClientID, keep.ClientSecret)

		first := okJSON[lcCred](t, l.s, "", "credentials", "revoke", c.ClientID, "--json")
		if first.Status != "revoked" || first.RevokedAt == nil {
			t.Fatalf("revoke printed %+v", first)
		}
		l.eventually(t, "revocation reaching the instance", func() bool {
			st, code, _ := l.token(t, c.ClientID, c.ClientSecret)
			return st == http.StatusUnauthorized && code == "invalid_client" && l.get(t, "/api/v1/me", tok) == http.StatusUnauthorized
		})
		if st := l.get(t, "/api/v1/me", keepTok); st != 200 {
			t.Fatalf("another credential's token: %d", st)
		}

		// Revoking again succeeds and keeps the first revocation.
		again := okJSON[lcCred](t, l.s, "", "credentials", "revoke", c.ClientID, "--json")
		if again.Status != "revoked" || again.RevokedAt == nil || !again.RevokedAt.Equal(*first.RevokedAt) {
			t.Fatalf("second revoke printed %+v, want revoked_at %v", again, first.RevokedAt)
		}
		l.refused(t, "no credential", "credentials", "revoke", "sapci_doesnotexist")
		l.refused(t, "arg", "credentials", "revoke")
		// The name is free again.
		if n := l.create(t, "--name", "billing"); n.ClientID == c.ClientID {
			t.Fatal("same client ID")
		}
	})
}

func TestLifecycleOrgs(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		l := newLifecycle(t, b)
		c := l.create(t, "--name", "billing", "--scopes", "credentials:read usage:read")
		tok := l.mustToken(t, c.ClientID, c.ClientSecret)

		o := okJSON[lcOrg](t, l.s, "", "orgs", "withdraw", "Acme", "usage:read", "--json")
		if slices.Contains(o.Scopes, "usage:read") || !slices.Contains(o.Scopes, "credentials:read") {
			t.Fatalf("withdraw printed %+v", o)
		}
		l.eventually(t, "withdrawal reaching the instance", func() bool { return l.get(t, "/api/v1/usage", tok) == http.StatusForbidden })
		if st, _, scope := l.token(t, c.ClientID, c.ClientSecret); st != 200 || scope != "credentials:read" {
			t.Fatalf("new token after withdrawal: %d %q", st, scope)
		}
		// A credential cannot be given it back without granting it again.
		o = okJSON[lcOrg](t, l.s, "", "orgs", "grant", "Acme", "usage:read", "--json")
		if !slices.Contains(o.Scopes, "usage:read") {
			t.Fatalf("grant printed %+v", o)
		}
		l.eventually(t, "grant reaching the instance", func() bool { return l.get(t, "/api/v1/usage", tok) == http.StatusOK })

		o = okJSON[lcOrg](t, l.s, "", "orgs", "limits", "Acme", "--token-rate", "1", "--json")
		if o.TokenRateLimit != 1 || o.APIRateLimit != 0 {
			t.Fatalf("limits printed %+v", o)
		}
		o = okJSON[lcOrg](t, l.s, "", "orgs", "limits", "Acme", "--api-rate", "3", "--json")
		if o.TokenRateLimit != 1 || o.APIRateLimit != 3 {
			t.Fatalf("limits printed %+v: --api-rate alone must keep the token rate", o)
		}
		l.eventually(t, "limits reaching the instance", func() bool {
			st, err := l.env.Server.Orgs.Lookup(t.Context(), o.ID)
			return err == nil && st.TokenRateLimit == 1 && st.APIRateLimit == 3
		})
		// The instance's clock stands still: one token a second means
		// one token.
		if st, _, _ := l.token(t, c.ClientID, c.ClientSecret); st != 200 {
			t.Fatalf("first token under the limit: %d", st)
		}
		if st, code, _ := l.token(t, c.ClientID, c.ClientSecret); st != http.StatusTooManyRequests || code != "too_many_requests" {
			t.Fatalf("second token under a limit of 1/s: %d %s", st, code)
		}

		refusals := []struct {
			name, want string
			args       []string
		}{
			{"withdraw a scope not granted", "does not grant", []string{"withdraw", "Acme", "sapient:introspect"}},
			{"withdraw an unknown scope", "does not grant", []string{"withdraw", "Acme", "credentials:read", "nope:read"}},
			{"withdraw from an unknown organisation", "no organisation", []string{"withdraw", "Nope", "usage:read"}},
			{"withdraw nothing", "arg", []string{"withdraw", "Acme"}},
			{"grant an unknown scope", "nope:read", []string{"grant", "Acme", "usage:read", "nope:read"}},
			{"negative token rate", "between 0", []string{"limits", "Acme", "--token-rate", "-1"}},
			{"negative API rate", "between 0", []string{"limits", "Acme", "--api-rate", "-5"}},
			{"rate too high", "between 0", []string{"limits", "Acme", "--token-rate", "2", "--api-rate", "1000001"}},
			{"rate not a number", "token-rate", []string{"limits", "Acme", "--token-rate", "fast"}},
			{"limits of an unknown organisation", "no organisation", []string{"limits", "Nope", "--token-rate", "5"}},
		}
		for _, tt := range refusals {
			t.Run(tt.name, func(t *testing.T) {
				l.refused(t, tt.want, append([]string{"orgs"}, tt.args...)...)
			})
		}
	})
}
