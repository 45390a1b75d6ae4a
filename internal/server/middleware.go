package server

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type requestIDKey struct{}

// RequestID returns the ID of the request, for logs.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// requestContext is a request's context with its ID: what
// context.WithValue would make, but part of the request's one allocation
// (see served). Value answers the ID and asks the parent for anything
// else, so contexts derived from it find the parent's cancellation as
// they would through context.WithValue's.
type requestContext struct {
	context.Context
	id string
}

func (c *requestContext) Value(key any) any {
	if key == (requestIDKey{}) {
		return c.id
	}
	return c.Context.Value(key)
}

// served is what the middleware keeps of one request, allocated once: its
// context, the writer that remembers the status, and the value of the
// X-Request-Id header.
type served struct {
	ctx requestContext
	sw  statusWriter
	id  [1]string
}

// nosniff is the value of X-Content-Type-Options on every response. It is
// shared: net/http copies a handler's header values before writing them,
// and nothing here changes a value in place.
var nosniff = []string{"nosniff"}

// statusWriter remembers the status code for the access log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// middleware wraps every request: a request ID (echoed as X-Request-ID),
// nosniff, recovery from panics as a plain 500, latency metrics by route
// and an access log line. Query strings and headers are never logged, so
// neither secrets nor tokens reach the logs.
//
// Request IDs are a random prefix drawn once and a counter, so that making
// one costs no system call; the latency histogram of each route is looked
// up once, not hashed from its labels on every request.
func (s *Server) middleware(next http.Handler) http.Handler {
	prefix := rand.Text()[:6]
	var seq atomic.Uint64
	latency := &routeLatency{vec: s.Metrics.HTTPLatency, obs: map[[2]string]prometheus.Observer{}}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sv := &served{sw: statusWriter{ResponseWriter: w}}
		sv.id[0] = requestID(prefix, seq.Add(1))
		sv.ctx = requestContext{Context: r.Context(), id: sv.id[0]}
		h := w.Header()
		h["X-Request-Id"] = sv.id[:]
		h["X-Content-Type-Options"] = nosniff
		ctx := context.Context(&sv.ctx)
		r = r.WithContext(ctx)
		sw := &sv.sw
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.ErrorContext(ctx, "panic serving request", "path", r.URL.Path, "panic", p)
				if sw.status == 0 {
					http.Error(sw, "internal server error", http.StatusInternalServerError)
				}
			}
			pattern := r.Pattern // set by the ServeMux
			if pattern == "" {
				pattern = "unmatched"
			}
			elapsed := time.Since(start)
			latency.observer(pattern, methodLabel(r.Method)).Observe(elapsed.Seconds())
			if s.log.Enabled(ctx, slog.LevelDebug) || sw.status >= 500 {
				s.log.LogAttrs(ctx, levelFor(sw.status), "request",
					slog.String("method", r.Method), slog.String("path", r.URL.Path),
					slog.Int("status", sw.status), slog.Duration("duration", elapsed))
			}
		}()
		next.ServeHTTP(sw, r)
	})
}

// requestID is prefix followed by n in ten characters of base32: sixteen
// characters of the alphabet of rand.Text, unique within the process and,
// by the prefix, most likely across instances.
func requestID(prefix string, n uint64) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	var b [16]byte
	copy(b[:6], prefix)
	for i := len(b) - 1; i >= 6; i-- {
		b[i] = alphabet[n&31]
		n >>= 5
	}
	return string(b[:])
}

// methodLabel is the method label of the latency metric: the methods of
// RFC 9110 §9 and PATCH (RFC 5789) by name, any other "other". Clients
// choose the method, and some routes answer every method, so that each
// invented one would otherwise make a series of its own.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

// routeLatency caches the latency histogram of each route and method.
type routeLatency struct {
	vec *prometheus.HistogramVec
	mu  sync.RWMutex
	obs map[[2]string]prometheus.Observer
}

func (l *routeLatency) observer(pattern, method string) prometheus.Observer {
	key := [2]string{pattern, method}
	l.mu.RLock()
	o, ok := l.obs[key]
	l.mu.RUnlock()
	if ok {
		return o
	}
	o = l.vec.WithLabelValues(pattern, method)
	l.mu.Lock()
	l.obs[key] = o // patterns and method labels are few
	l.mu.Unlock()
	return o
}

func levelFor(status int) slog.Level {
	if status >= 500 {
		return slog.LevelError
	}
	return slog.LevelDebug
}

// requestIDHandler adds the request ID of the context to every log record
// written with a *Context method during a request.
type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}
