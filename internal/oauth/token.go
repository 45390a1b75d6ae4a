package oauth

import (
	"cmp"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"sapient.dev/sapient/internal/clientip"
	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/metrics"
	"sapient.dev/sapient/internal/ratelimit"
	"sapient.dev/sapient/internal/token"
	"sapient.dev/sapient/internal/usage"
)

// TokenHandler is the token endpoint for the client credentials grant.
type TokenHandler struct {
	Credentials *credential.Cache
	Orgs        *credential.OrgCache
	Issuer      *token.Issuer
	Usage       *usage.Recorder
	Metrics     *metrics.Metrics
	Logger      *slog.Logger
	Now         func() time.Time
	ClientIP    *clientip.Resolver
	Limiter     *ratelimit.Limiter
	// DefaultRateLimit is the per-credential limit in requests per second
	// for organisations that set none; 0 means unlimited.
	DefaultRateLimit int
	// RateLimited is told when a credential is refused for its rate, so
	// that repeated refusals can be audited.
	RateLimited func(e *credential.Entry, where string)
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
	e, ok, err := authenticate(r.Context(), h.Credentials, id, secret, now)
	if err != nil {
		h.Logger.ErrorContext(r.Context(), "token: credential lookup failed", "err", err)
		return fail(&authError{ErrServerError, "Temporary failure; try again."})
	}
	ip := h.ClientIP.IP(r)
	refused := func() { h.Usage.Record(e.ClientID, e.OrgID, usage.TokenRefused, now, ip.String()) }
	refuse := func(e2 *authError) string {
		refused()
		return fail(e2)
	}
	if e == nil {
		return fail(errClientAuth)
	}
	if !ok {
		return refuse(errClientAuth)
	}
	org, err := h.Orgs.Lookup(r.Context(), e.OrgID)
	if err != nil {
		h.Logger.ErrorContext(r.Context(), "token: organisation lookup failed", "err", err)
		return fail(&authError{ErrServerError, "Temporary failure; try again."})
	}
	if allowed, wait := h.Limiter.Allow(e.ClientID, cmp.Or(org.TokenRateLimit, h.DefaultRateLimit), now); !allowed {
		refused()
		if h.RateLimited != nil {
			h.RateLimited(e, "token endpoint")
		}
		w.Header().Set("Retry-After", strconv.Itoa(ratelimit.RetryAfter(wait)))
		writeJSON(w, http.StatusTooManyRequests, errorBody{Error: ErrTooManyRequests,
			Description: "Too many token requests for this credential; retry after the time in Retry-After. Cache tokens until they expire."})
		return ErrTooManyRequests
	}
	if !e.AllowedFrom(ip) {
		return refuse(&authError{ErrUnauthorizedClient, "This credential may not be used from this address."})
	}
	// RFC 6749 §3.3: the requested scope must be within what the client
	// holds now (its scopes that its organisation still allows); absent
	// means all of them.
	held := org.Effective(e)
	scope := held
	if requested, ok := form["scope"]; ok && strings.TrimSpace(requested[0]) != "" {
		granted := credential.ParseScopes(requested[0])
		for _, s := range granted {
			if !credential.ScopeListHas(held, s) {
				return refuse(&authError{ErrInvalidScope, "The credential does not hold scope " + s + "."})
			}
		}
		scope = strings.Join(granted, " ")
	}
	issued, err := h.Issuer.Issue(e, scope, now)
	if err != nil {
		h.Logger.ErrorContext(r.Context(), "token: signing failed", "err", err)
		return fail(&authError{ErrServerError, "Temporary failure; try again."})
	}
	h.Usage.Record(e.ClientID, e.OrgID, usage.TokenIssued, now, ip.String())
	writeJSON(w, http.StatusOK, tokenResponse{
		AccessToken: issued.Token, TokenType: "Bearer", ExpiresIn: issued.ExpiresIn, Scope: scope,
	})
	return "issued"
}
