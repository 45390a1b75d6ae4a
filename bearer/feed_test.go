package bearer_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"sapient.dev/sapient/bearer"
	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/org"
	"sapient.dev/sapient/internal/scope"
	"sapient.dev/sapient/internal/server/servertest"
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
	other := a.Credential(t, acme.ID, "other", nil)

	// Count what reaches Sapient: nothing per request once following.
	var calls struct{ checks int }
	counting := &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
		if strings.Contains(r.URL.Path, "introspect") {
			calls.checks++
		}
		return http.DefaultTransport.RoundTrip(r)
	})}
	v, err := bearer.New(t.Context(), bearer.Config{Issuer: a.URL, HTTPClient: counting, FeedClientID: feedCred.Credential.ClientID,
		FeedClientSecret: feedCred.Secret})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	vt, ot := getToken(t, z, victim), getToken(t, z, other)
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
	eventually(t, "revoked credential refused", func() bool {
		_, err := v.Verify(t.Context(), vt)
		return err != nil
	})
	c, err := v.Verify(t.Context(), ot)
	if err != nil || c.HasScope(scope.AuditRead) || !c.HasScope(scope.UsageRead) {
		t.Errorf("another credential's token: %+v, %v; want it valid without %s", c, err, scope.AuditRead)
	}
	if calls.checks != 0 {
		t.Errorf("%d introspection calls, want none", calls.checks)
	}

	// Sapient goes away: the Verifier keeps what it knew.
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
