package oauth

import (
	"encoding/json"
	"log/slog"
	"net/http"

	"sapient.dev/sapient/internal/store"
)

// Metadata is the authorization server metadata of RFC 8414 §2.
type Metadata struct {
	Issuer                                    string   `json:"issuer"`
	TokenEndpoint                             string   `json:"token_endpoint"`
	JWKSURI                                   string   `json:"jwks_uri"`
	IntrospectionEndpoint                     string   `json:"introspection_endpoint"`
	RevocationEndpoint                        string   `json:"revocation_endpoint"`
	GrantTypesSupported                       []string `json:"grant_types_supported"`
	ResponseTypesSupported                    []string `json:"response_types_supported"`
	TokenEndpointAuthMethodsSupported         []string `json:"token_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthMethodsSupported []string `json:"introspection_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethodsSupported    []string `json:"revocation_endpoint_auth_methods_supported"`
	ScopesSupported                           []string `json:"scopes_supported"`
}

// DiscoveryHandler serves the metadata at /.well-known/oauth-authorization-server
// and /.well-known/openid-configuration.
type DiscoveryHandler struct {
	Issuer string
	Scopes store.Scopes
	Logger *slog.Logger
}

// NewMetadata describes the endpoints of a server at issuer.
func NewMetadata(issuer string, scopes []string) Metadata {
	methods := []string{"client_secret_basic", "client_secret_post"}
	return Metadata{
		Issuer:                            issuer,
		TokenEndpoint:                     issuer + "/connect/token",
		JWKSURI:                           issuer + "/.well-known/jwks.json",
		IntrospectionEndpoint:             issuer + "/connect/introspect",
		RevocationEndpoint:                issuer + "/connect/revocation",
		GrantTypesSupported:               []string{"client_credentials"},
		ResponseTypesSupported:            []string{},
		TokenEndpointAuthMethodsSupported: methods,
		IntrospectionEndpointAuthMethodsSupported: methods,
		RevocationEndpointAuthMethodsSupported:    methods,
		ScopesSupported:                           scopes,
	}
}

func (h *DiscoveryHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defined, err := h.Scopes.ListScopes(r.Context())
	if err != nil {
		h.Logger.ErrorContext(r.Context(), "discovery: list scopes", "err", err)
		http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
		return
	}
	names := make([]string, 0, len(defined))
	for _, s := range defined {
		names = append(names, s.Name)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	json.NewEncoder(w).Encode(NewMetadata(h.Issuer, names))
}

// JWKSource provides the published key set.
type JWKSource interface {
	JWKS() ([]byte, error)
}

// JWKSHandler serves the JWKS (RFC 7517 §5). Verifiers may cache it for
// five minutes; new keys are published well before they sign.
type JWKSHandler struct {
	Keys   JWKSource
	Logger *slog.Logger
}

func (h *JWKSHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, err := h.Keys.JWKS()
	if err != nil {
		h.Logger.ErrorContext(r.Context(), "jwks", "err", err)
		http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Write(b)
}
