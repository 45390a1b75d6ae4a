// Package edge lets the API a Sapient operator sells be protected by
// Sapient: GET /edge/check answers reverse proxies (nginx auth_request,
// Caddy and Traefik forward_auth) whether a call may pass, from memory, and
// counts it for its credential.
package edge

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"sapient.dev/sapient/internal/clientip"
	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/metrics"
	"sapient.dev/sapient/internal/ratelimit"
	"sapient.dev/sapient/internal/token"
	"sapient.dev/sapient/internal/usage"
)

// The identity headers of an accepted call, which the proxy passes to the
// upstream. They are Sapient's alone: a proxy configured as in
// docs/examples sets them from the check's answer, replacing any the
// caller sent. Values are ASCII; a credential name is percent-encoded
// (RFC 3986) where it is not.
const (
	HeaderClientID       = "X-Sapient-Client-Id"
	HeaderOrgID          = "X-Sapient-Org-Id"
	HeaderCredentialName = "X-Sapient-Credential-Name"
	HeaderScope          = "X-Sapient-Scope"
)

// Bounds on the check's own query, set in the proxy's configuration.
const (
	maxScopeParam = 1024
	maxRouteParam = 128
)

// Check is the handler of GET /edge/check. The proxy forwards the caller's
// Authorization header and, in its own configuration, names the scopes the
// location requires (query parameter scope, space-separated, every one
// required) and a route name for usage (route). The caller's address is
// the connection's, or X-Forwarded-For from a trusted proxy.
//
// A call passes (200, with the identity headers) when its bearer token is
// valid (signature, issuer, audience, expiry, neither it nor its
// credential revoked), the credential may be used from the caller's
// address and is within its API rate limit, and the scopes its token may
// use now include every required one. Otherwise the answer is 401 or 403
// with an RFC 6750 WWW-Authenticate challenge, or 429 with Retry-After,
// which the proxy hands back to the caller. Every call of an identified
// credential counts as an API call, accepted or refused.
type Check struct {
	Verifier *token.Verifier
	Usage    *usage.Recorder
	Metrics  *metrics.Metrics
	Logger   *slog.Logger
	Now      func() time.Time
	ClientIP *clientip.Resolver
	Limiter  ratelimit.Allower
	// DefaultRateLimit is the per-credential limit on API calls, in
	// requests per second, for organisations that set none.
	DefaultRateLimit int
	// RateLimited is told when a credential is refused for its rate.
	RateLimited func(e *credential.Entry, where string)

	queries    sync.Map // raw query → *parsedQuery
	queryCount atomic.Int64
	validOnce  sync.Once
	valid      prometheus.Counter
}

// noStore is the Cache-Control of every answer. It is shared: net/http
// copies a handler's header values before writing them, and nothing here
// changes a value in place.
var noStore = []string{"no-store"}

// ServeHTTP answers one check.
func (c *Check) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header()["Cache-Control"] = noStore
	q := c.query(r.URL.RawQuery)
	required, route, msg := q.required, q.route, q.error
	if msg != "" {
		// The proxy's configuration is wrong, not the caller: say so, and
		// count nothing.
		writeError(w, http.StatusBadRequest, "invalid_request", msg)
		return
	}
	raw, msg := bearer(r.Header.Values("Authorization"))
	switch {
	case msg == "missing":
		// RFC 6750 §3.1: a request with no authentication information
		// gets a challenge with no error code.
		c.Metrics.TokenChecks.WithLabelValues("missing").Inc()
		c.Usage.RecordRoute("", "", route, usage.NoToken, c.Now())
		w.Header().Set("WWW-Authenticate", `Bearer realm="sapient"`)
		writeError(w, http.StatusUnauthorized, "invalid_request", "An access token is required in the Authorization header.")
		return
	case msg != "":
		c.Metrics.TokenChecks.WithLabelValues("invalid").Inc()
		c.Usage.RecordRoute("", "", route, usage.InvalidToken, c.Now())
		challenge(w, http.StatusUnauthorized, "invalid_token", msg, "")
		return
	}
	audience := q.resource
	if audience == "" {
		audience = c.Verifier.Audience
	}
	var v token.Verified
	if err := c.Verifier.VerifyInto(r.Context(), raw, audience, &v); err != nil {
		if terr, ok := err.(*token.Error); ok {
			now := c.Now()
			if terr.ClientID != "" {
				c.Usage.Record(terr.ClientID, terr.OrgID, usage.APIRefused, now, c.ClientIP.IP(r))
				c.Usage.RecordRoute(terr.ClientID, terr.OrgID, route, usage.Revoked, now)
			} else {
				c.Usage.RecordRoute("", "", route, usage.InvalidToken, now)
			}
			c.Metrics.TokenChecks.WithLabelValues("invalid").Inc()
			msg := "The access token is invalid: " + terr.Reason + "."
			if !b64token(raw) {
				msg = malformed
			}
			challenge(w, http.StatusUnauthorized, "invalid_token", msg, "")
			return
		}
		c.Logger.ErrorContext(r.Context(), "edge: token verification failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "Try again shortly.")
		return
	}
	e, now, ip := v.Credential, v.At, c.ClientIP.IP(r)
	if no := v.Admit(ip, now, c.Limiter, c.DefaultRateLimit, required...); no != nil {
		c.Usage.Record(e.ClientID, e.OrgID, usage.APIRefused, now, ip)
		c.Usage.RecordRoute(e.ClientID, e.OrgID, route, no.Reason, now)
		c.Metrics.TokenChecks.WithLabelValues(no.Reason).Inc()
		switch no.Reason {
		case usage.AddressNotAllowed:
			challenge(w, http.StatusUnauthorized, "invalid_token", "The access token may not be used from this address.", "")
		case usage.RateLimited:
			if c.RateLimited != nil {
				c.RateLimited(e, "API")
			}
			w.Header().Set("Retry-After", strconv.Itoa(ratelimit.RetryAfter(no.Wait)))
			w.Header().Set("WWW-Authenticate", `Bearer realm="sapient", error_description="Too many calls for this credential; retry after the time in Retry-After."`)
			writeError(w, http.StatusTooManyRequests, "rate_limited", "Too many calls for this credential; retry after the time in Retry-After.")
		default:
			challenge(w, http.StatusForbidden, "insufficient_scope", "This call requires the scope "+no.Scope+".", strings.Join(required, " "))
		}
		return
	}
	c.Usage.Record(e.ClientID, e.OrgID, usage.APICall, now, ip)
	c.Usage.RecordRoute(e.ClientID, e.OrgID, route, usage.Accepted, now)
	c.validOnce.Do(func() { c.valid = c.Metrics.TokenChecks.WithLabelValues("valid") })
	c.valid.Inc()
	// The four values in one array: one allocation, not four. The names
	// are in canonical form already.
	vals := &[4]string{e.ClientID, e.OrgID, headerValue(e.Name), v.Scope}
	h := w.Header()
	h[HeaderClientID] = vals[0:1:1]
	h[HeaderOrgID] = vals[1:2:2]
	h[HeaderCredentialName] = vals[2:3:3]
	h[HeaderScope] = vals[3:4:4]
	w.WriteHeader(http.StatusOK)
}

// parsedQuery is a check URL's query, parsed.
type parsedQuery struct {
	required               []string
	route, resource, error string
}

// maxQueries bounds the parsed queries kept: a proxy sends the few its
// configuration names, over and over.
const maxQueries = 1024

// query parses the check's query string once for all the calls that
// carry it.
func (c *Check) query(raw string) *parsedQuery {
	if v, ok := c.queries.Load(raw); ok {
		return v.(*parsedQuery)
	}
	q := parseQuery(raw)
	if c.queryCount.Add(1) <= maxQueries {
		c.queries.Store(raw, q)
	}
	return q
}

// parseQuery reads the check's own parameters: scope (each scope-token of
// RFC 6749 §3.3, separated by single spaces), route (a name of letters,
// digits and ._:/-) and resource (the API the location is, as registered:
// its tokens' aud; absent, Sapient's own audience). Its error says what is
// wrong.
func parseQuery(raw string) *parsedQuery {
	bad := func(msg string) *parsedQuery { return &parsedQuery{error: msg} }
	q, err := url.ParseQuery(raw)
	if err != nil {
		return bad("The query string of the check URL is not valid: check the proxy's configuration.")
	}
	for name, values := range q {
		if name != "scope" && name != "route" && name != "resource" {
			return bad("The check URL takes only the parameters scope, route and resource, not " + strconv.Quote(name) + ".")
		}
		if len(values) > 1 {
			return bad("The check URL names " + name + " more than once.")
		}
	}
	var required []string
	if s := q.Get("scope"); s != "" {
		if len(s) > maxScopeParam {
			return bad("The scope parameter of the check URL is longer than " + strconv.Itoa(maxScopeParam) + " characters.")
		}
		required = strings.Split(s, " ")
		for _, t := range required {
			if !validScopeToken(t) {
				return bad("The scope parameter of the check URL must be scope names separated by single spaces.")
			}
		}
	}
	route := q.Get("route")
	if msg := checkRoute(route); msg != "" {
		return bad("The route parameter of the check URL " + msg)
	}
	res := q.Get("resource")
	if len(res) > 512 {
		return bad("The resource parameter of the check URL is longer than 512 characters.")
	}
	return &parsedQuery{required: required, route: route, resource: res}
}

// checkRoute says what is wrong with a route name, if anything: at most
// maxRouteParam letters, digits and ._:/-.
func checkRoute(route string) string {
	if len(route) > maxRouteParam {
		return "is longer than " + strconv.Itoa(maxRouteParam) + " characters."
	}
	for _, r := range route {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._:/-", r)) {
			return "may hold only letters, digits and . _ : / -."
		}
	}
	return ""
}

// validScopeToken reports whether t is a scope-token: 1*NQCHAR, that is
// %x21 / %x23-5B / %x5D-7E (RFC 6749 §3.3).
func validScopeToken(t string) bool {
	if t == "" {
		return false
	}
	for i := 0; i < len(t); i++ {
		if b := t[i]; b < 0x21 || b > 0x7e || b == '"' || b == '\\' {
			return false
		}
	}
	return true
}

// bearer reads the one Authorization header's bearer token (RFC 6750
// §2.1: the scheme case-insensitively, then a b64token). The message is
// "missing" when there is none, else what is wrong.
func bearer(values []string) (string, string) {
	switch len(values) {
	case 0:
		return "", "missing"
	case 1:
	default:
		return "", "The request carries more than one Authorization header."
	}
	scheme, tok, ok := strings.Cut(values[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", "The Authorization header must be \"Bearer\" and an access token."
	}
	if tok == "" || len(tok) > token.MaxLen {
		return "", malformed
	}
	// Whether tok is a b64token is asked only of a token that fails to
	// verify: one that verifies is a JWS in compact form, made of
	// base64url and dots, all b64token characters.
	return tok, ""
}

// malformed explains the refusal of a token that is not a b64token.
const malformed = "The access token in the Authorization header is malformed."

// b64token reports whether s is 1*( ALPHA / DIGIT / "-" / "." / "_" / "~"
// / "+" / "/" ) *"=" (RFC 6750 §2.1).
func b64token(s string) bool {
	s = strings.TrimRight(s, "=")
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !b64tokenChar[s[i]] {
			return false
		}
	}
	return true
}

// b64tokenChar marks the bytes a b64token is made of, looked up once per
// byte of every token checked.
var b64tokenChar = func() (t [256]bool) {
	for b := range 256 {
		t[b] = b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || strings.IndexByte("-._~+/", byte(b)) >= 0
	}
	return t
}()

// headerValue percent-encodes what is not printable ASCII, and the percent
// sign itself, so that any name is a safe header value.
func headerValue(s string) string {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < 0x20 || b > 0x7e || b == '%' {
			return url.PathEscape(s)
		}
	}
	return s
}

// challenge answers with an RFC 6750 §3 error: the WWW-Authenticate header
// and the same error as JSON.
func challenge(w http.ResponseWriter, status int, code, description, scope string) {
	v := `Bearer realm="sapient", error="` + code + `", error_description="` + description + `"`
	if scope != "" {
		v += `, scope="` + scope + `"`
	}
	w.Header().Set("WWW-Authenticate", v)
	writeError(w, status, code, description)
}

// writeError writes an error as JSON, in RFC 6750's words.
func writeError(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": description})
}
