package server_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store/storetest"
)

// TestCredentialPreload: at start an instance reads every credential that
// is not revoked into memory, and serves the same answers from there; with
// the preload skipped it reads each on first use.
func TestCredentialPreload(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		env := servertest.New(t, b)
		acme := env.Org(t, "Acme")
		a := env.Credential(t, acme.ID, "a", nil)
		bc := env.Credential(t, acme.ID, "b", nil)
		revoked := env.Credential(t, acme.ID, "revoked", nil)
		if _, err := env.Server.Credentials.Revoke(t.Context(), access.CLI, revoked.Credential.ClientID); err != nil {
			t.Fatal(err)
		}
		tokenStatus := func() (int, int) {
			w := httptest.NewRecorder()
			env.Server.Handler().ServeHTTP(w, servertest.TokenRequest(a))
			r := httptest.NewRecorder()
			env.Server.Handler().ServeHTTP(r, servertest.TokenRequest(revoked))
			return w.Code, r.Code
		}

		env.Restart(t)
		<-env.Server.Preloaded()
		if n := env.Server.Cache.Len(); n != 2 {
			t.Fatalf("%d credentials in memory after the preload, want a and b", n)
		}
		if !strings.Contains(env.Logs.String(), `"msg":"credentials in memory","credentials":2`) {
			t.Errorf("no log line for the preload in:\n%s", env.Logs)
		}
		if ok, refused := tokenStatus(); ok != 200 || refused != 401 {
			t.Fatalf("after the preload: token %d for a (want 200), %d for the revoked one (want 401)", ok, refused)
		}
		env.Token(t, bc)

		env.Config.SkipCredentialPreload = true
		env.Restart(t)
		<-env.Server.Preloaded()
		if n := env.Server.Cache.Len(); n != 0 {
			t.Fatalf("%d credentials in memory with the preload skipped, want 0", n)
		}
		if ok, refused := tokenStatus(); ok != 200 || refused != 401 {
			t.Fatalf("without the preload: token %d for a (want 200), %d for the revoked one (want 401)", ok, refused)
		}
		if n := env.Server.Cache.Len(); n != 2 {
			t.Fatalf("%d credentials in memory after two were used, want 2", n)
		}
	})
}
