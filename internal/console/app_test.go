package console_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
)

// app is a whole Sapient instance for the browser tests: the console, the
// token endpoint and the API on one real store.
type app struct {
	URL    string // the console
	APIURL string // /connect/token and /api/v1: the same instance
	Env    *servertest.Env
}

// sqlite is the backend of the browser tests: the console has no
// database-specific code, and the HTTP tests run on every backend.
var sqlite = storetest.Backend{Name: "sqlite", URL: storetest.SQLiteURL}

// newApp starts an instance with its Admin (servertest.AdminEmail).
func newApp(t *testing.T) *app {
	t.Helper()
	env := servertest.New(t, sqlite)
	return &app{URL: env.URL, APIURL: env.URL, Env: env}
}

// customer creates an organisation and one Customer user of it.
func (a *app) customer(t *testing.T, orgName, email string) store.Org {
	t.Helper()
	o := a.Env.Org(t, orgName)
	a.Env.User(t, email, testPassword, store.RoleCustomer, o.ID)
	return o
}

// tokenResponse is the answer of the token endpoint (RFC 6749 §5.1, §5.2).
type tokenResponse struct {
	Status      int
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	Error       string `json:"error"`
}

// token asks the token endpoint for a token with the client credentials
// grant, authenticating with HTTP Basic (RFC 6749 §4.4.2, §2.3.1).
func (a *app) token(t *testing.T, clientID, secret string) tokenResponse {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, a.APIURL+"/connect/token",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	tr := tokenResponse{Status: resp.StatusCode}
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil {
		t.Fatalf("token response: %v", err)
	}
	return tr
}
