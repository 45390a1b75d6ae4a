package bearer_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"sapient.dev/sapient/bearer"
	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/org"
	"sapient.dev/sapient/internal/scope"
	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
)

// eventually waits, bounded by the test's patience rather than a claim
// about speed, until done holds: the follower runs in its own goroutine
// and learns of a change when the instance's sync step has applied it.
func eventually(t *testing.T, what string, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: never", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestFeed: a Verifier following the revocation feed refuses the tokens of
// a credential revoked on another instance, and narrows the scope of a
// token whose organisation lost a scope, once that instance's sync step
// applied them, with no call to Sapient per request; while Sapient cannot
// be reached it keeps what it knew.
func TestFeed(t *testing.T) {
	// The Verifier talks to instance a (the issuer's URL); changes are
	// made on instance z.
	a := servertest.New(t, storetest.Backends()[0], servertest.WithSyncInterval(time.Hour)) // steps only when told
	z := a.Join(t)
	acme := a.Org(t, "Acme")
	feedCred := a.Credential(t, acme.ID, "verifier", []string{scope.Verify})
	victim := a.Credential(t, acme.ID, "victim", nil)
	otherCred := a.Credential(t, acme.ID, "other", nil)

	// Count what reaches Sapient besides following the feed (and the
	// token that authenticates it): nothing per request once following.
	var other atomic.Int64
	counting := &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
		if r.URL.Path != "/edge/revocations" && r.URL.Path != "/connect/token" {
			other.Add(1)
		}
		return http.DefaultTransport.RoundTrip(r)
	})}
	v, err := bearer.New(t.Context(), bearer.Config{Issuer: a.URL, HTTPClient: counting, FeedClientID: feedCred.Credential.ClientID,
		FeedClientSecret: feedCred.Secret})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	vt, ot := getToken(t, z, victim), getToken(t, z, otherCred)
	before := other.Load() // the metadata and keys New read
	if _, err := v.Verify(t.Context(), vt); err != nil {
		t.Fatalf("before revocation: %v", err)
	}
	if _, err := z.Server.Credentials.Revoke(t.Context(), access.CLI, victim.Credential.ClientID); err != nil {
		t.Fatal(err)
	}
	if _, err := org.Withdraw(t.Context(), z.Store, access.CLI, acme.ID, []string{scope.AuditRead}, time.Now); err != nil {
		t.Fatal(err)
	}
	if err := a.Server.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Both changes come through the feed, in order, perhaps in two
	// messages.
	eventually(t, "revoked credential refused and scope withdrawn", func() bool {
		_, err := v.Verify(t.Context(), vt)
		c, _ := v.Verify(t.Context(), ot)
		return err != nil && c != nil && !c.HasScope(scope.AuditRead)
	})
	c, err := v.Verify(t.Context(), ot)
	if err != nil || c.HasScope(scope.AuditRead) || !c.HasScope(scope.UsageRead) {
		t.Errorf("another credential's token: %+v, %v; want it valid without %s", c, err, scope.AuditRead)
	}
	if n := other.Load() - before; n != 0 {
		t.Errorf("%d requests to Sapient while verifying, want none", n)
	}

	// Sapient goes away: the Verifier keeps what it knew.
	a.Server.Drain() // as a shutdown begins: the long poll in flight ends
	a.HTTP.CloseClientConnections()
	a.HTTP.Close()
	if _, err := v.Verify(t.Context(), vt); err == nil {
		t.Error("with Sapient unreachable, the revoked credential's token is accepted again")
	}
	if _, err := v.Verify(t.Context(), ot); err != nil {
		t.Errorf("with Sapient unreachable, a good token is refused: %v", err)
	}
}

// TestFeedNeedsTheScope: a feed credential without sapient:verify is a
// configuration error New reports.
func TestFeedNeedsTheScope(t *testing.T) {
	env := servertest.New(t, storetest.Backends()[0])
	c := env.Credential(t, env.Org(t, "Acme").ID, "plain", nil)
	_, err := bearer.New(t.Context(), bearer.Config{Issuer: env.URL, FeedClientID: c.Credential.ClientID, FeedClientSecret: c.Secret})
	if err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("New with a credential lacking sapient:verify: %v, want a 403 from the feed", err)
	}
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestReportUsage: calls that Require accepted and refused in a Go service
// reach API > Usage by route, for their credentials, as proxied calls do.
func TestReportUsage(t *testing.T) {
	env := servertest.New(t, storetest.Backends()[0])
	acme := env.Org(t, "Acme")
	feedCred := env.Credential(t, acme.ID, "verifier", []string{scope.Verify})
	caller := env.Credential(t, acme.ID, "caller", []string{scope.UsageRead})
	v, err := bearer.New(t.Context(), bearer.Config{Issuer: env.URL, FeedClientID: feedCred.Credential.ClientID,
		FeedClientSecret: feedCred.Secret, ReportUsage: true})
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(v.RequireRoute("shipments", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), "usage:read"))
	defer api.Close()
	admin := httptest.NewServer(v.RequireRoute("admin", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), "credentials:write"))
	defer admin.Close()
	tok := getToken(t, env, caller)
	call := func(url, bearerToken string) int {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if bearerToken != "" {
			req.Header.Set("Authorization", "Bearer "+bearerToken)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		url, tok string
		want     int
	}{{api.URL, tok, 200}, {api.URL, tok, 200}, {api.URL, "", 401}, {admin.URL, tok, 403}} {
		if got := call(c.url, c.tok); got != c.want {
			t.Fatalf("%s: %d, want %d", c.url, got, c.want)
		}
	}
	v.Close() // sends the last batch
	if err := env.Server.Usage.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	rows, err := env.Store.ListRouteUsage(t.Context(), store.UsageFilter{From: time.Now().Add(-2 * time.Hour), To: time.Now().Add(2 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	got := map[[3]string]int64{}
	for _, r := range rows {
		got[[3]string{r.ClientID, r.Route, r.Outcome}] += r.Calls
	}
	want := map[[3]string]int64{
		{caller.Credential.ClientID, "shipments", "accepted"}:       2,
		{"", "shipments", "no_token"}:                               1,
		{caller.Credential.ClientID, "admin", "insufficient_scope"}: 1,
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%v: %d calls, want %d (all: %v)", k, got[k], n, got)
		}
	}
	buckets, _ := env.Store.ListUsage(t.Context(), store.UsageFilter{ClientID: caller.Credential.ClientID})
	var calls, refused int64
	for _, b := range buckets {
		calls, refused = calls+b.APICalls, refused+b.APIRefused
	}
	if calls != 2 || refused != 1 {
		t.Errorf("the caller's API calls: %d and %d refused, want 2 and 1", calls, refused)
	}
}
