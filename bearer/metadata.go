package bearer

import (
	"encoding/json"
	"net/http"
)

// ProtectedResourcePath is where RFC 9728 puts a protected resource's
// metadata, below the resource's own URL.
const ProtectedResourcePath = "/.well-known/oauth-protected-resource"

// ProtectedResourceMetadata serves the RFC 9728 metadata of the API this
// Verifier protects, at resource + ProtectedResourcePath: the resource
// identifier (Config.Audience, the aud its tokens carry), Sapient as its
// authorization server, the scopes it knows of, and that tokens come in
// the Authorization header. Clients learn from it where to get a token:
//
//	mux.Handle("GET "+bearer.ProtectedResourcePath, v.ProtectedResourceMetadata("shipments:read", "shipments:write"))
func (v *Verifier) ProtectedResourceMetadata(scopes ...string) http.Handler {
	meta := map[string]any{
		"resource":                 v.cfg.Audience,
		"authorization_servers":    []string{v.cfg.Issuer},
		"bearer_methods_supported": []string{"header"},
	}
	if len(scopes) > 0 {
		meta["scopes_supported"] = scopes
	}
	body, _ := json.Marshal(meta)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Write(body)
	})
}
