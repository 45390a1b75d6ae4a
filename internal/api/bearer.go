// Package api serves Sapient's own REST API under /api/v1/, protected by
// bearer tokens (RFC 6750).
package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"sapient.dev/sapient/internal/metrics"
	"sapient.dev/sapient/internal/token"
	"sapient.dev/sapient/internal/usage"
)

type ctxKey struct{}

// Caller returns the verified token of the request, set by Bearer.
func Caller(ctx context.Context) *token.Verified {
	v, _ := ctx.Value(ctxKey{}).(*token.Verified)
	return v
}

// Bearer authenticates requests by an access token in the Authorization
// header (RFC 6750 §2.1) and refuses the rest as §3 describes.
type Bearer struct {
	Verifier *token.Verifier
	Usage    *usage.Recorder
	Metrics  *metrics.Metrics
	Logger   *slog.Logger
	Now      func() time.Time
}

// Require wraps next so that it runs only for a valid token holding every
// scope in scopes.
func (b *Bearer) Require(next http.Handler, scopes ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, ok := bearerToken(r)
		if !ok {
			b.Metrics.TokenChecks.WithLabelValues("missing").Inc()
			challenge(w, http.StatusUnauthorized, "invalid_token", "An access token is required in the Authorization header.", "")
			return
		}
		v, err := b.Verifier.Verify(r.Context(), raw)
		var terr *token.Error
		if errors.As(err, &terr) {
			b.Metrics.TokenChecks.WithLabelValues("invalid").Inc()
			challenge(w, http.StatusUnauthorized, "invalid_token", "The access token is invalid: "+terr.Reason+".", "")
			return
		} else if err != nil {
			b.Logger.ErrorContext(r.Context(), "bearer: verification failed", "err", err)
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily_unavailable"})
			return
		}
		b.Usage.Record(v.Claims.ClientID, v.Claims.OrgID, usage.APICall, b.Now(), "")
		granted := strings.Fields(v.Claims.Scope)
		for _, s := range scopes {
			if !contains(granted, s) || !v.Credential.HasScope(s) {
				b.Metrics.TokenChecks.WithLabelValues("insufficient_scope").Inc()
				challenge(w, http.StatusForbidden, "insufficient_scope", "This call requires the scope "+s+".", strings.Join(scopes, " "))
				return
			}
		}
		b.Metrics.TokenChecks.WithLabelValues("valid").Inc()
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, v)))
	})
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
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

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
