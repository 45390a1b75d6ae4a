// Package api serves Sapient's REST API under /api/v1/: /me for any valid
// bearer token, and the management API (credentials, usage, audit), usable
// with a bearer token that holds the matching scope or with a console
// session, always limited to the caller's own organisation.
package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/clientip"
	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/metrics"
	"sapient.dev/sapient/internal/ratelimit"
	"sapient.dev/sapient/internal/token"
	"sapient.dev/sapient/internal/usage"
)

// Principal is who makes an API call.
type Principal struct {
	Actor access.Actor
	// Token is the verified access token, or nil for a console session.
	Token *token.Verified
}

type ctxKey struct{}

// principalContext is the context of a request made with a bearer token,
// with its principal and verified token: what context.WithValue and two
// more allocations would make, allocated once. Value answers the principal
// and asks the parent for anything else, so contexts derived from it find
// the parent's cancellation as they would through context.WithValue's.
type principalContext struct {
	context.Context
	p Principal
	v token.Verified
}

func (c *principalContext) Value(key any) any {
	if key == (ctxKey{}) {
		return &c.p
	}
	return c.Context.Value(key)
}

// Caller returns the principal of the request, set by Auth.
func Caller(ctx context.Context) *Principal {
	p, _ := ctx.Value(ctxKey{}).(*Principal)
	return p
}

// SessionSource finds the console user behind a request's session cookie,
// acting with the request's client address and user agent.
type SessionSource interface {
	SessionActor(r *http.Request) (access.Actor, bool)
}

// Auth authenticates API calls: by an access token in the Authorization
// header (RFC 6750 §2.1), or, without one, by a console session.
type Auth struct {
	Verifier *token.Verifier
	Sessions SessionSource // nil: tokens only
	Usage    *usage.Recorder
	Metrics  *metrics.Metrics
	Logger   *slog.Logger
	ClientIP *clientip.Resolver
	Limiter  ratelimit.Allower
	// DefaultRateLimit is the per-credential limit on API calls, in
	// requests per second, for organisations that set none.
	DefaultRateLimit int
	// RateLimited is told when a credential is refused for its rate.
	RateLimited func(e *credential.Entry, where string)
}

// Bearer wraps next so that it runs only for a valid access token that
// holds scope (none if empty).
func (a *Auth) Bearer(next http.Handler, scope string) http.Handler {
	return a.require(next, scope, false)
}

// BearerOrSession is Bearer, but a request without an Authorization header
// may instead carry a console session, which acts with its user's rights.
func (a *Auth) BearerOrSession(next http.Handler, scope string) http.Handler {
	return a.require(next, scope, true)
}

func (a *Auth) require(next http.Handler, scope string, sessions bool) http.Handler {
	valid := a.Metrics.TokenChecks.WithLabelValues("valid") // looked up once, not on every call
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sessions && a.Sessions != nil && r.Header.Get("Authorization") == "" {
			if actor, ok := a.Sessions.SessionActor(r); ok {
				next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, &Principal{Actor: actor})))
				return
			}
		}
		raw, ok := bearerToken(r)
		if !ok {
			a.Metrics.TokenChecks.WithLabelValues("missing").Inc()
			challenge(w, http.StatusUnauthorized, "invalid_token", "An access token is required in the Authorization header.", "")
			return
		}
		pc := &principalContext{Context: r.Context()}
		v := &pc.v
		if err := a.Verifier.VerifyInto(r.Context(), raw, a.Verifier.Audience, v); err != nil {
			var terr *token.Error // declared here: errors.As makes it escape
			if errors.As(err, &terr) {
				a.Metrics.TokenChecks.WithLabelValues("invalid").Inc()
				challenge(w, http.StatusUnauthorized, "invalid_token", "The access token is invalid: "+terr.Reason+".", "")
				return
			}
			a.Logger.ErrorContext(r.Context(), "api: token verification failed", "err", err)
			problem(w, r, http.StatusServiceUnavailable, "Temporarily unavailable", "Try again shortly.", nil)
			return
		}
		e, now, ip := v.Credential, v.At, a.ClientIP.IP(r)
		if no := v.Admit(ip, now, a.Limiter, a.DefaultRateLimit, scope); no != nil {
			a.Usage.Record(e.ClientID, e.OrgID, usage.APIRefused, now, ip)
			a.Metrics.TokenChecks.WithLabelValues(no.Reason).Inc()
			switch no.Reason {
			case usage.AddressNotAllowed:
				challenge(w, http.StatusUnauthorized, "invalid_token", "The access token may not be used from this address.", "")
			case usage.RateLimited:
				if a.RateLimited != nil {
					a.RateLimited(e, "API")
				}
				w.Header().Set("Retry-After", strconv.Itoa(ratelimit.RetryAfter(no.Wait)))
				problem(w, r, http.StatusTooManyRequests, "Too many requests",
					"This credential made too many API calls; retry after the time in Retry-After.", nil)
			default:
				challenge(w, http.StatusForbidden, "insufficient_scope", "This call requires the scope "+no.Scope+".", scope)
			}
			return
		}
		a.Usage.Record(e.ClientID, e.OrgID, usage.APICall, now, ip)
		valid.Inc()
		// The token's scopes, split: those of the credential as they are
		// when the token may use them all, as it most often may. Clipped,
		// so that an append never writes into the credential's.
		scopes := e.Scopes
		if v.Scope != e.Scope {
			scopes = strings.Fields(v.Scope)
		}
		actor := access.Credential(e.ClientID, e.Name, e.OrgID, slices.Clip(scopes))
		actor.IP, actor.UserAgent = ip.String(), r.UserAgent()
		pc.p = Principal{Token: v, Actor: actor}
		next.ServeHTTP(w, r.WithContext(pc))
	})
}

// bearerToken reads "Authorization: Bearer <token>"; the scheme is
// case-insensitive (RFC 9110 §11.1).
func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	const prefix = "bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	tok := strings.TrimSpace(h[len(prefix):])
	return tok, tok != ""
}

// challenge answers with an RFC 6750 §3 error: a WWW-Authenticate header
// and the same error as JSON.
func challenge(w http.ResponseWriter, status int, code, description, scope string) {
	v := `Bearer realm="sapient", error="` + code + `", error_description="` + description + `"`
	if scope != "" {
		v += `, scope="` + scope + `"`
	}
	w.Header().Set("WWW-Authenticate", v)
	writeJSON(w, status, map[string]string{"error": code, "error_description": description})
}
