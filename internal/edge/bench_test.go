package edge_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store/storetest"
)

// BenchmarkCheck is GET /edge/check through the whole instance's handler
// (middleware, routing, the check) with httptest, without the network, as
// a proxy asks it for a client that presents the same token every time.
func BenchmarkCheck(b *testing.B) {
	env := servertest.New(b, storetest.Backends()[0], servertest.ForBenchmarks)
	acme := env.Org(b, "Acme")
	c := env.Credential(b, acme.ID, "bench", nil)
	h := env.Server.Handler()
	tok := env.Token(b, c)

	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodGet, "/edge/check?route=bench", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		r.Header.Set("X-Forwarded-Method", "GET")
		r.Header.Set("X-Forwarded-Uri", "/v1/shipments")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("/edge/check answered %d: %s", w.Code, w.Body)
		}
	}
}
