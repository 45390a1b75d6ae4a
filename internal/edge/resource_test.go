package edge_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"sapient.dev/sapient/bearer"
	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/resource"
	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store/storetest"
)

// TestResourceAudience: a token asked for a registered resource (RFC 8707)
// carries it as aud, passes the check of that resource and bearer set up
// for it, and is refused by Sapient's own API and by a check for another
// audience; an unregistered or repeated resource is invalid_target.
func TestResourceAudience(t *testing.T) {
	env := servertest.New(t, storetest.Backend{Name: "sqlite", URL: storetest.SQLiteURL})
	const api = "https://shipments.example.com"
	if _, err := resource.Register(t.Context(), env.Store, access.CLI, api, "Shipments", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := env.Server.Sync(t.Context()); err != nil { // as instances learn of it
		t.Fatal(err)
	}
	cred := env.Credential(t, env.Org(t, "Acme").ID, "shipper", nil)
	ask := func(form url.Values) (int, map[string]any) {
		form.Set("grant_type", "client_credentials")
		body := form.Encode()
		r := httptest.NewRequest(http.MethodPost, "/connect/token", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth(cred.Credential.ClientID, cred.Secret)
		w := httptest.NewRecorder()
		env.Server.Handler().ServeHTTP(w, r)
		var out map[string]any
		json.Unmarshal(w.Body.Bytes(), &out)
		return w.Code, out
	}
	code, out := ask(url.Values{"resource": {api}})
	tok, _ := out["access_token"].(string)
	if code != 200 || tok == "" {
		t.Fatalf("token for %s: %d %v", api, code, out)
	}
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	var claims struct {
		Aud string `json:"aud"`
	}
	if json.Unmarshal(payload, &claims); claims.Aud != api {
		t.Errorf("aud = %q, want %q", claims.Aud, api)
	}
	for _, bad := range []url.Values{
		{"resource": {"https://other.example.com"}},
		{"resource": {api, api}},
		{"resource": {""}},
	} {
		if code, out := ask(bad); code != 400 || out["error"] != "invalid_target" {
			t.Errorf("resource %q: %d %v, want 400 invalid_target", bad["resource"], code, out)
		}
	}
	check := func(query, path string) int {
		r := httptest.NewRequest(http.MethodGet, path+query, nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		env.Server.Handler().ServeHTTP(w, r)
		return w.Code
	}
	if got := check("?resource="+url.QueryEscape(api), "/edge/check"); got != 200 {
		t.Errorf("check of %s: %d, want 200", api, got)
	}
	if got := check("?resource="+url.QueryEscape("https://other.example.com"), "/edge/check"); got != 401 {
		t.Errorf("check of another resource: %d, want 401", got)
	}
	if got := check("", "/edge/check"); got != 401 {
		t.Errorf("check of Sapient's own audience: %d, want 401", got)
	}
	if got := check("", "/api/v1/me"); got != 401 {
		t.Errorf("Sapient's own API: %d, want 401", got)
	}
	v, err := bearer.New(t.Context(), bearer.Config{Issuer: env.URL, Audience: api})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(t.Context(), tok); err != nil {
		t.Errorf("bearer for %s: %v", api, err)
	}
}
