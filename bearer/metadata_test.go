package bearer_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"sapient.dev/sapient/bearer"
	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store/storetest"
)

// TestProtectedResourceMetadata: the API a Verifier protects describes
// itself as RFC 9728 says, naming Sapient as where its tokens come from.
func TestProtectedResourceMetadata(t *testing.T) {
	env := servertest.New(t, storetest.Backends()[0])
	v, err := bearer.New(t.Context(), bearer.Config{Issuer: env.URL})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	v.ProtectedResourceMetadata("shipments:read").ServeHTTP(w, httptest.NewRequest(http.MethodGet, bearer.ProtectedResourcePath, nil))
	var meta struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
		Scopes               []string `json:"scopes_supported"`
		Methods              []string `json:"bearer_methods_supported"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &meta); err != nil || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("metadata %q: %v", w.Body, err)
	}
	if meta.Resource != env.URL || !slices.Equal(meta.AuthorizationServers, []string{env.URL}) ||
		!slices.Equal(meta.Scopes, []string{"shipments:read"}) || !slices.Equal(meta.Methods, []string{"header"}) {
		t.Errorf("metadata %+v", meta)
	}
}
