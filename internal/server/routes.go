package server

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// routes builds the route table: one place that lists every endpoint.
func (s *Server) routes() error {
	mux := http.NewServeMux()
	tok, introspect, revoke, discovery, jwks := s.oauthHandlers()

	// OAuth 2.0 endpoints. They answer every method so that a wrong one
	// still gets an RFC 6749 error rather than a bare 405.
	mux.Handle("/connect/token", tok)
	mux.Handle("/connect/introspect", introspect)
	mux.Handle("/connect/revocation", revoke)
	mux.Handle("GET /.well-known/oauth-authorization-server", discovery)
	mux.Handle("GET /.well-known/openid-configuration", discovery)
	mux.Handle("GET /.well-known/jwks.json", jwks)

	// Sapient's API: /api/v1/me, credentials, usage, audit, openapi.json.
	s.newAPI().Register(mux)

	// Your own API: reverse proxies ask whether a call may pass. Any
	// method, as nginx's auth_request asks with the caller's.
	mux.Handle("/edge/check", s.edgeCheck())
	mux.Handle("GET /edge/revocations", s.revocationFeed())
	mux.Handle("POST /edge/usage", s.usageReports())

	// Leaked secrets reported in: by anyone, and by GitHub secret scanning.
	mux.Handle("POST /leaks", s.leaks())
	mux.Handle("POST /leaks/github", s.githubLeaks())

	// Operations.
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", s.ready)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))

	if err := s.registerConsole(mux); err != nil {
		return err
	}
	s.mux = mux
	s.handler = s.middleware(mux)
	return nil
}

// ready reports whether the database answers, and with Redis configured
// whether Redis does: without Redis the instance still serves, with
// limits of its own, so it stays ready.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := s.cfg.Store.Ping(ctx); err != nil {
		s.log.WarnContext(r.Context(), "readiness check failed", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("database unavailable\n"))
		return
	}
	w.Write([]byte("ready\n" + s.redisState()))
}
