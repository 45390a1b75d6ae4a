package servertest

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/server"
)

// ForBenchmarks logs nothing (an Env keeps every debug line) and keeps the
// per-credential rate limiters on the path but out of the way, so that one
// client may call as fast as the machine lets it.
func ForBenchmarks(c *server.Config) {
	c.Logger = slog.New(slog.DiscardHandler)
	c.TokenRateLimit, c.APIRateLimit = 1<<30, 1<<30
}

// TokenRequest is a client credentials token request for c, authenticated
// with client_secret_basic, to serve with a handler directly.
func TokenRequest(c credential.Created) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/connect/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(c.Credential.ClientID, c.Secret)
	return r
}

// Token obtains an access token for c from the instance's handler, without
// the network.
func (e *Env) Token(t testing.TB, c credential.Created) string {
	t.Helper()
	w := httptest.NewRecorder()
	e.Server.Handler().ServeHTTP(w, TokenRequest(c))
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("no token: %d %s", w.Code, w.Body)
	}
	return tok.AccessToken
}
