package api_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store/storetest"
)

// BenchmarkMe is GET /api/v1/me through the whole instance's handler
// (middleware, routing, bearer authentication, the handler) with httptest,
// without the network, presenting the same token every time as a client
// does until it expires.
func BenchmarkMe(b *testing.B) {
	env := servertest.New(b, storetest.Backends()[0], servertest.ForBenchmarks)
	acme := env.Org(b, "Acme")
	c := env.Credential(b, acme.ID, "bench", nil)
	h := env.Server.Handler()

	tok := env.Token(b, c)

	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodGet, "/api/v1/me", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("/api/v1/me answered %d: %s", w.Code, w.Body)
		}
	}
}
