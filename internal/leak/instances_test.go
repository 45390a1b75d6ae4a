package leak_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"sapient.dev/sapient/internal/audit"
	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
)

// TestGitHubAlertAcrossInstances is the promise: a secret pasted
// into a signed GitHub-format alert sent to one instance is refused by a
// second instance on the same PostgreSQL database after one step of its
// sync (which its background loop takes every 250 ms, and on PostgreSQL
// as soon as the change commits), and the credential.leaked audit entry
// committed with the revocation.
func TestGitHubAlertAcrossInstances(t *testing.T) {
	pg := storetest.Backends()[1]
	sc := newScanner(t, "k1")
	a := servertest.New(t, pg, withKeys(sc.URL))
	// The second instance's own loop would see the change too; an hour
	// between polls leaves the step to this test (a notification may
	// still wake it, which changes nothing the test checks).
	b := a.Join(t, servertest.WithSyncInterval(time.Hour))
	c := a.Credential(t, a.Org(t, "Acme").ID, "billing", nil)
	tok := b.Token(t, c) // b holds the credential in memory, active
	me := func() int {
		r := httptest.NewRequest(http.MethodGet, "/api/v1/me", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		b.Server.Handler().ServeHTTP(w, r)
		return w.Code
	}
	if code := me(); code != http.StatusOK {
		t.Fatalf("before the alert, b answers the token with %d", code)
	}

	body := alert("https://github.com/acme/app/blob/main/config.yml", c.Secret)
	if l := labels(t, post(a, "/leaks/github", "140.82.115.1", body, sc.sign(t, "k1", body))); l[0].Label != "true_positive" {
		t.Fatalf("labels = %+v", l)
	}
	if err := b.Server.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if code := tokenStatus(b, c); code != http.StatusUnauthorized {
		t.Errorf("after one sync step b issues tokens for the leaked secret: %d", code)
	}
	if code := me(); code != http.StatusUnauthorized {
		t.Errorf("after one sync step b accepts a token of the leaked credential: %d", code)
	}
	cred, err := b.Store.GetCredential(t.Context(), c.Credential.ClientID)
	if err != nil || cred.RevokedAt.IsZero() {
		t.Fatalf("credential = %+v, %v; want revoked", cred, err)
	}
	evs, err := b.Store.ListAudit(t.Context(), store.AuditFilter{Action: audit.CredentialLeaked})
	if err != nil || len(evs) != 1 || evs[0].Target != cred.ClientID || !evs[0].At.Equal(cred.RevokedAt) ||
		!strings.Contains(evs[0].Detail, "https://github.com/acme/app/blob/main/config.yml") {
		t.Fatalf("credential.leaked events = %+v, %v; want one, at the revocation", evs, err)
	}
}
