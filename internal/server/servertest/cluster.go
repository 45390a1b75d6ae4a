package servertest

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"sapient.dev/sapient/internal/server"
)

// Join starts another instance on e's database, as a second process behind
// the same load balancer would run: the same issuer and key-encryption key,
// its own connections, caches, limits and background work, and e's
// options followed by opts (a clock of its own, say). It stops when the
// test ends. Several instances joined to one PostgreSQL database are how
// tests hold behaviour that must hold across instances.
func (e *Env) Join(t testing.TB, opts ...Option) *Env {
	t.Helper()
	j := &Env{DatabaseURL: e.DatabaseURL, Logs: &Buffer{}, KEK: e.KEK}
	j.HTTP = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j.mu.RLock()
		h := j.handler
		j.mu.RUnlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(j.HTTP.Close)
	j.URL = j.HTTP.URL
	cfg := e.Config
	cfg.Logger = slog.New(slog.NewJSONHandler(j.Logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.Registry = nil
	for _, o := range opts {
		o(&cfg)
	}
	j.Config = cfg
	j.start(t)
	return j
}

// WithSyncInterval sets how often the instance reads the change log
// without being told of a change.
func WithSyncInterval(d time.Duration) Option {
	return func(cfg *server.Config) { cfg.SyncInterval = d }
}
