package oauth

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/metrics"
	"sapient.dev/sapient/internal/token"
	"sapient.dev/sapient/internal/usage"
)

// TokenHandler is the token endpoint for the client credentials grant.
type TokenHandler struct {
	Credentials *credential.Cache
	Issuer      *token.Issuer
	Usage       *usage.Recorder
	Metrics     *metrics.Metrics
	Logger      *slog.Logger
	Now         func() time.Time
}

// tokenResponse is the successful response of RFC 6749 §5.1.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope,omitempty"`
}

// ServeHTTP implements RFC 6749 §4.4.2 (access token request) and §4.4.3
// (access token response).
func (h *TokenHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	outcome := h.serve(w, r)
	h.Metrics.TokenRequests.WithLabelValues(outcome).Inc()
	h.Metrics.TokenLatency.Observe(time.Since(start).Seconds())
}

func (h *TokenHandler) serve(w http.ResponseWriter, r *http.Request) string {
	fail := func(e *authError) string {
		writeError(w, e.code, e.description)
		return e.code
	}
	form, aerr := parseForm(w, r)
	if aerr != nil {
		return fail(aerr)
	}
	switch gt := form.Get("grant_type"); gt {
	case "client_credentials":
	case "":
		return fail(&authError{ErrInvalidRequest, "grant_type is required."})
	default:
		return fail(&authError{ErrUnsupportedGrantType, "Only the client_credentials grant is supported."})
	}
	id, secret, aerr := clientCredentials(r, form)
	if aerr != nil {
		return fail(aerr)
	}
	now := h.Now()
	e, aerr, err := authenticate(r.Context(), h.Credentials, id, secret, now)
	if err != nil {
		h.Logger.ErrorContext(r.Context(), "token: credential lookup failed", "err", err)
		return fail(&authError{ErrServerError, "Temporary failure; try again."})
	}
	if aerr != nil {
		return fail(aerr)
	}
	// RFC 6749 §3.3: the requested scope must be within what the client
	// holds; absent means everything it holds.
	scope := e.Scope
	if requested, ok := form["scope"]; ok && strings.TrimSpace(requested[0]) != "" {
		granted := credential.ParseScopes(requested[0])
		for _, s := range granted {
			if !e.HasScope(s) {
				return fail(&authError{ErrInvalidScope, "The credential does not hold scope " + s + "."})
			}
		}
		scope = strings.Join(granted, " ")
	}
	issued, err := h.Issuer.Issue(e, scope, now)
	if err != nil {
		h.Logger.ErrorContext(r.Context(), "token: signing failed", "err", err)
		return fail(&authError{ErrServerError, "Temporary failure; try again."})
	}
	h.Usage.Record(e.ClientID, e.OrgID, usage.TokenIssued, now, "")
	writeJSON(w, http.StatusOK, tokenResponse{
		AccessToken: issued.Token, TokenType: "Bearer", ExpiresIn: issued.ExpiresIn, Scope: scope,
	})
	return "issued"
}
