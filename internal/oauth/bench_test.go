package oauth_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store/storetest"
)

// BenchmarkTokenHandler is one client_secret_basic token request through
// the whole instance's handler (middleware, routing, the token endpoint)
// with httptest, without the network.
func BenchmarkTokenHandler(b *testing.B) {
	env := servertest.New(b, storetest.Backends()[0], servertest.ForBenchmarks)
	acme := env.Org(b, "Acme")
	c := env.Credential(b, acme.ID, "bench", nil)
	h := env.Server.Handler()
	auth := basic(c.Credential.ClientID, c.Secret).Get("Authorization")
	body := url.Values{"grant_type": {"client_credentials"}}.Encode()
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/connect/token", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Authorization", auth)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("token endpoint answered %d: %s", w.Code, w.Body)
		}
	}
}
