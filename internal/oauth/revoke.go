package oauth

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"sapient.dev/sapient/internal/clientip"
	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/token"
)

// RevokeHandler implements token revocation (RFC 7009): a client revokes
// one of its own access tokens, which is then refused everywhere Sapient
// checks tokens until it would have expired.
type RevokeHandler struct {
	Credentials *credential.Cache
	Verifier    *token.Verifier
	Denylist    *token.Denylist
	Store       store.Tokens
	Logger      *slog.Logger
	Now         func() time.Time
	// ClientIP finds the caller's address, for the credential's IP
	// allow-list and the budget of failures.
	ClientIP *clientip.Resolver
	// Failures is the budget of failed client authentications per client
	// address, shared with the token endpoint; nil is unlimited.
	Failures *FailureLimiter
}

func (h *RevokeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := h.Now()
	form, caller, ok := clientAuth{h.Credentials, h.Failures}.authenticatedClient(w, r, h.ClientIP.IP(r), h.Logger, now)
	if !ok {
		return
	}
	raw := form.Get("token")
	if raw == "" {
		writeError(w, ErrInvalidRequest, "token is required.")
		return
	}
	// token_type_hint is only a hint (§2.1); Sapient has access tokens only.
	v, err := h.Verifier.Verify(r.Context(), raw)
	if errors.Is(err, token.ErrInvalid) {
		// §2.2: an invalid, expired or already revoked token is not an error.
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		return
	} else if err != nil {
		h.Logger.ErrorContext(r.Context(), "revoke: verification failed", "err", err)
		writeError(w, ErrServerError, "Temporary failure; try again.")
		return
	}
	if v.Claims.ClientID != caller.ClientID {
		// §2.1: the token must have been issued to the client revoking it.
		writeError(w, ErrUnauthorizedClient, "The token was not issued to this client.")
		return
	}
	exp := time.Unix(v.Claims.ExpiresAt, 0)
	if err := h.Store.RevokeToken(r.Context(), store.RevokedToken{
		JTI: v.Claims.JTI, ClientID: caller.ClientID, ExpiresAt: exp, RevokedAt: now,
	}); err != nil {
		h.Logger.ErrorContext(r.Context(), "revoke: store failed", "err", err)
		writeError(w, ErrServerError, "Temporary failure; try again.")
		return
	}
	h.Denylist.Add(v.Claims.JTI, exp)
	h.Logger.InfoContext(r.Context(), "token revoked", "client_id", caller.ClientID, "jti", v.Claims.JTI)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}
