// Package oauth implements Sapient's OAuth 2.0 endpoints: the token
// endpoint for the client credentials grant (RFC 6749 §4.4), token
// introspection (RFC 7662), token revocation (RFC 7009), authorization
// server metadata (RFC 8414) and the JWKS.
package oauth

import (
	"encoding/json"
	"net/http"
)

// Error codes of RFC 6749 §5.2 and RFC 7009 §2.2.1.
const (
	ErrInvalidRequest       = "invalid_request"
	ErrInvalidClient        = "invalid_client"
	ErrInvalidGrant         = "invalid_grant"
	ErrUnauthorizedClient   = "unauthorized_client"
	ErrUnsupportedGrantType = "unsupported_grant_type"
	ErrInvalidScope         = "invalid_scope"
	ErrInvalidTarget        = "invalid_target" // RFC 8707 §2
	ErrServerError          = "server_error"
	ErrInsufficientScope    = "insufficient_scope"
	// ErrTooManyRequests answers a credential over its rate limit, with
	// status 429 and Retry-After; RFC 6749 defines no code for it.
	ErrTooManyRequests = "too_many_requests"
)

// errorBody is the JSON error response of RFC 6749 §5.2.
type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// writeError answers with an RFC 6749 §5.2 error. invalid_client is 401
// with a WWW-Authenticate challenge for HTTP Basic, as §5.2 requires when
// the client may authenticate with the Authorization header.
func writeError(w http.ResponseWriter, code, description string) {
	status := http.StatusBadRequest
	switch code {
	case ErrInvalidClient:
		status = http.StatusUnauthorized
		w.Header().Set("WWW-Authenticate", `Basic realm="sapient", charset="UTF-8"`)
	case ErrServerError:
		status = http.StatusInternalServerError
	case ErrInsufficientScope:
		status = http.StatusForbidden
	}
	writeJSON(w, status, errorBody{Error: code, Description: description})
}

// writeJSON answers with JSON that must not be cached (RFC 6749 §5.1).
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
