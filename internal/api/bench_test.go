package api_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"sapient.dev/sapient/internal/server"
	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store/storetest"
)

// BenchmarkMe is GET /api/v1/me through the whole instance's handler
// (middleware, routing, bearer authentication, the handler) with httptest,
// without the network, presenting the same token every time as a client
// does until it expires.
func BenchmarkMe(b *testing.B) {
	env := servertest.New(b, storetest.Backends()[0], benchConfig)
	acme := env.Org(b, "Acme")
	c := env.Credential(b, acme.ID, "bench", nil)
	h := env.Server.Handler()

	r := httptest.NewRequest(http.MethodPost, "/connect/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(c.Credential.ClientID, c.Secret)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &tok); err != nil || tok.AccessToken == "" {
		b.Fatalf("no token: %d %s", w.Code, w.Body)
	}

	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodGet, "/api/v1/me", nil)
		r.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("/api/v1/me answered %d: %s", w.Code, w.Body)
		}
	}
}

// benchConfig logs nothing (servertest keeps every debug line) and keeps
// the per-credential rate limiter on the path but out of the way, so that
// one client may call as fast as the machine lets it.
func benchConfig(c *server.Config) {
	c.Logger = slog.New(slog.DiscardHandler)
	c.TokenRateLimit, c.APIRateLimit = 1<<30, 1<<30
}
