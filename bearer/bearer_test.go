package bearer_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"sapient.dev/sapient/bearer"
	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/scope"
	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store/storetest"
)

func getToken(t *testing.T, env *servertest.Env, c credential.Created) string {
	t.Helper()
	req, _ := http.NewRequest("POST", env.URL+"/connect/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(c.Credential.ClientID, c.Secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&out)
	return out.AccessToken
}

// TestRequire protects a small API of "yours" with Sapient's tokens.
func TestRequire(t *testing.T) {
	env := servertest.New(t, storetest.Backends()[0])
	acme := env.Org(t, "Acme")
	reader := env.Credential(t, acme.ID, "reader", []string{scope.UsageRead})
	gateway := env.Credential(t, acme.ID, "gateway", []string{scope.Introspect})
	tok := getToken(t, env, reader)

	local, err := bearer.New(t.Context(), bearer.Config{Issuer: env.URL})
	if err != nil {
		t.Fatal(err)
	}
	checked, err := bearer.New(t.Context(), bearer.Config{Issuer: env.URL,
		IntrospectionClientID: gateway.Credential.ClientID, IntrospectionClientSecret: gateway.Secret})
	if err != nil {
		t.Fatal(err)
	}
	yourAPI := func(v *bearer.Verifier, scopes ...string) http.Handler {
		return v.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c := bearer.FromContext(r.Context())
			w.Write([]byte(c.ClientID + " " + c.OrgID))
		}), scopes...)
	}
	call := func(h http.Handler, tok string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/shipments", nil)
		if tok != "" {
			r.Header.Set("Authorization", "Bearer "+tok)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	if w := call(yourAPI(local, scope.UsageRead), tok); w.Code != 200 || w.Body.String() != reader.Credential.ClientID+" "+acme.ID {
		t.Fatalf("valid token: %d %q", w.Code, w.Body)
	}
	if w := call(yourAPI(local, "shipments:write"), tok); w.Code != 403 || !strings.Contains(w.Header().Get("WWW-Authenticate"), "insufficient_scope") {
		t.Errorf("missing scope: %d %q", w.Code, w.Header().Get("WWW-Authenticate"))
	}
	for name, bad := range map[string]string{"none": "", "garbage": "x.y.z", "tampered": tok[:len(tok)-3] + "AAA"} {
		if w := call(yourAPI(local), bad); w.Code != 401 || !strings.Contains(w.Header().Get("WWW-Authenticate"), "invalid_token") {
			t.Errorf("%s: %d", name, w.Code)
		}
	}
	other, err := bearer.New(t.Context(), bearer.Config{Issuer: env.URL, Audience: "https://other.example"})
	if err != nil {
		t.Fatal(err)
	}
	if w := call(yourAPI(other), tok); w.Code != 401 {
		t.Errorf("wrong audience accepted: %d", w.Code)
	}
	late, _ := bearer.New(t.Context(), bearer.Config{Issuer: env.URL, Now: func() time.Time { return time.Now().Add(2 * time.Hour) }})
	if w := call(yourAPI(late), tok); w.Code != 401 {
		t.Errorf("expired token accepted: %d", w.Code)
	}

	// A revoked credential: local checks accept its token until expiry;
	// with introspection it is refused at once.
	if _, err := env.Server.Credentials.Revoke(t.Context(), access.CLI, reader.Credential.ClientID); err != nil {
		t.Fatal(err)
	}
	if w := call(yourAPI(local), tok); w.Code != 200 {
		t.Errorf("local verification after revocation: %d, want 200 (it cannot know)", w.Code)
	}
	if w := call(yourAPI(checked), tok); w.Code != 401 {
		t.Errorf("introspecting verifier after revocation: %d, want 401", w.Code)
	}
	if _, err := bearer.New(t.Context(), bearer.Config{Issuer: env.URL + "/wrong"}); err == nil {
		t.Error("New accepted an issuer whose metadata is missing")
	}
}
