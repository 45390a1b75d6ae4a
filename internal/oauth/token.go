package oauth

import (
	"cmp"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"sapient.dev/sapient/internal/clientip"
	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/metrics"
	"sapient.dev/sapient/internal/org"
	"sapient.dev/sapient/internal/ratelimit"
	"sapient.dev/sapient/internal/token"
	"sapient.dev/sapient/internal/usage"
)

// TokenHandler is the token endpoint for the client credentials grant.
type TokenHandler struct {
	Credentials *credential.Cache
	Orgs        *org.Cache
	Issuer      *token.Issuer
	// Resources are the APIs a token may be issued for (RFC 8707); nil
	// refuses every resource.
	Resources interface{ Has(uri string) bool }
	Usage     *usage.Recorder
	Metrics   *metrics.Metrics
	Logger    *slog.Logger
	Now       func() time.Time
	ClientIP  *clientip.Resolver
	Limiter   ratelimit.Allower
	// DefaultRateLimit is the per-credential limit in requests per second
	// for organisations that set none; 0 means unlimited.
	DefaultRateLimit int
	// RateLimited is told when a credential is refused for its rate, so
	// that repeated refusals can be audited.
	RateLimited func(e *credential.Entry, where string)
	// Failures is the budget of failed client authentications per client
	// address, shared with introspection and revocation; nil is unlimited.
	Failures *FailureLimiter
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
	now := h.Now()
	ip := h.ClientIP.IP(r)
	if wait, ok := h.Failures.Allow(ip, now); !ok {
		writeTooManyFailures(w, wait)
		return ErrTooManyRequests
	}
	if refuseLargeBody(w, r) {
		return ErrInvalidRequest
	}
	if aerr := checkQuery(r); aerr != nil {
		return fail(aerr)
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
	e, aerr, err := clientAuth{h.Credentials, h.Failures}.check(r, form, ip, now)
	if err != nil {
		h.Logger.ErrorContext(r.Context(), "token: credential lookup failed", "err", err)
		return fail(&authError{ErrServerError, "Temporary failure; try again."})
	}
	refused := func() { h.Usage.Record(e.ClientID, e.OrgID, usage.TokenRefused, now, ip) }
	refuse := func(e2 *authError) string {
		refused()
		return fail(e2)
	}
	if aerr != nil {
		if e == nil {
			return fail(aerr)
		}
		return refuse(aerr)
	}
	o, err := h.Orgs.Lookup(r.Context(), e.OrgID)
	if err != nil {
		h.Logger.ErrorContext(r.Context(), "token: organisation lookup failed", "err", err)
		return fail(&authError{ErrServerError, "Temporary failure; try again."})
	}
	if allowed, wait := h.Limiter.Allow(e.ClientID, cmp.Or(o.TokenRateLimit, h.DefaultRateLimit), now); !allowed {
		refused()
		if h.RateLimited != nil {
			h.RateLimited(e, "token endpoint")
		}
		w.Header().Set("Retry-After", strconv.Itoa(ratelimit.RetryAfter(wait)))
		writeJSON(w, http.StatusTooManyRequests, errorBody{Error: ErrTooManyRequests,
			Description: "Too many token requests for this credential; retry after the time in Retry-After. Cache tokens until they expire."})
		return ErrTooManyRequests
	}
	// RFC 6749 §3.3: the requested scope must be within what the client
	// holds now (its scopes that its organisation still allows); absent
	// means all of them.
	held := o.Effective(e.Scopes, e.Scope)
	scope := held
	granted, aerr := parseScopeParam(form.Get("scope"))
	if aerr != nil {
		return refuse(aerr)
	}
	if granted != nil {
		for _, s := range granted {
			if !credential.ScopeListHas(held, s) {
				return refuse(&authError{ErrInvalidScope, "The credential does not hold scope " + s + "."})
			}
		}
		scope = strings.Join(granted, " ")
	}
	// RFC 8707: a resource names the API the token is for, which becomes
	// its audience; it must be one an Admin registered.
	audience := ""
	if res := form.Get("resource"); res != "" || form.Has("resource") {
		if h.Resources == nil || !h.Resources.Has(res) {
			return refuse(&authError{ErrInvalidTarget, "The resource " + strconv.Quote(res) + " is not an API this server issues tokens for."})
		}
		audience = res
	}
	issued, err := h.Issuer.Issue(e, scope, audience, now)
	if err != nil {
		h.Logger.ErrorContext(r.Context(), "token: signing failed", "err", err)
		return fail(&authError{ErrServerError, "Temporary failure; try again."})
	}
	h.Usage.Record(e.ClientID, e.OrgID, usage.TokenIssued, now, ip)
	writeJSON(w, http.StatusOK, tokenResponse{
		AccessToken: issued.Token, TokenType: "Bearer", ExpiresIn: issued.ExpiresIn, Scope: scope,
	})
	return "issued"
}

// checkQuery refuses a request whose URL query string cannot be parsed,
// saying so: the form parser reads the query and the body together, and
// would otherwise blame the body. The parameters of the grant come from
// the body (RFC 6749 §4.4.2); a query string that parses is ignored.
func checkQuery(r *http.Request) *authError {
	if r.URL.RawQuery == "" {
		return nil // the common case: nothing to parse
	}
	if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
		return &authError{ErrInvalidRequest, "The query string of the URL is not valid: " + err.Error() +
			". Send the parameters in the body, as application/x-www-form-urlencoded."}
	}
	return nil
}
