package oauth

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"sapient.dev/sapient/internal/clientip"
	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/scope"
	"sapient.dev/sapient/internal/token"
	"sapient.dev/sapient/internal/usage"
)

// IntrospectHandler implements token introspection (RFC 7662). The caller
// authenticates as a credential that holds sapient:introspect, and learns
// only about tokens of its own organisation: any other token is reported
// inactive, as are revoked, expired and malformed ones.
type IntrospectHandler struct {
	Credentials *credential.Cache
	Verifier    *token.Verifier
	Usage       *usage.Recorder
	Logger      *slog.Logger
	Now         func() time.Time
	ClientIP    *clientip.Resolver
	// Refused is told of a refused introspection, for the audit trail.
	Refused func(r *http.Request, caller *credential.Entry, reason string)
	// Failures is the budget of failed client authentications per client
	// address, shared with the token endpoint; nil is unlimited.
	Failures *FailureLimiter
}

// introspection is the response of RFC 7662 §2.2.
type introspection struct {
	Active    bool   `json:"active"`
	Scope     string `json:"scope,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	TokenType string `json:"token_type,omitempty"`
	Exp       int64  `json:"exp,omitempty"`
	Iat       int64  `json:"iat,omitempty"`
	Sub       string `json:"sub,omitempty"`
	Aud       string `json:"aud,omitempty"`
	Iss       string `json:"iss,omitempty"`
	JTI       string `json:"jti,omitempty"`
	OrgID     string `json:"org_id,omitempty"`
}

func (h *IntrospectHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := h.Now()
	ip := h.ClientIP.IP(r)
	form, caller, ok := clientAuth{h.Credentials, h.Failures}.authenticatedClient(w, r, ip, h.Logger, now)
	if !ok {
		if caller != nil {
			h.Usage.Record(caller.ClientID, caller.OrgID, usage.APIRefused, now, ip)
		}
		return
	}
	if !caller.HasScope(scope.Introspect) {
		h.Usage.Record(caller.ClientID, caller.OrgID, usage.APIRefused, now, ip)
		h.Logger.WarnContext(r.Context(), "introspect: refused, caller lacks scope", "client_id", caller.ClientID)
		if h.Refused != nil {
			h.Refused(r, caller, "caller lacks "+scope.Introspect)
		}
		writeError(w, ErrInsufficientScope, "Introspection requires the scope "+scope.Introspect+".")
		return
	}
	raw := form.Get("token")
	if raw == "" {
		writeError(w, ErrInvalidRequest, "token is required.")
		return
	}
	h.Usage.Record(caller.ClientID, caller.OrgID, usage.APICall, now, ip)
	v, err := h.Verifier.Verify(r.Context(), raw)
	if err != nil && !errors.Is(err, token.ErrInvalid) {
		h.Logger.ErrorContext(r.Context(), "introspect: verification failed", "err", err)
		writeError(w, ErrServerError, "Temporary failure; try again.")
		return
	}
	if err != nil || v.Claims.OrgID != caller.OrgID {
		writeJSON(w, http.StatusOK, introspection{Active: false})
		return
	}
	// The scope is what the token may do now (as /api/v1/me answers): a
	// scope withdrawn from the credential's organisation since the token
	// was issued is no longer in it.
	c := v.Claims
	writeJSON(w, http.StatusOK, introspection{
		Active: true, Scope: v.Scope, ClientID: c.ClientID, TokenType: "Bearer", Exp: c.ExpiresAt, Iat: c.IssuedAt,
		Sub: c.Subject, Aud: c.Audience, Iss: c.Issuer, JTI: c.JTI, OrgID: c.OrgID,
	})
}
