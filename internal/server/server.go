// Package server assembles Sapient: it builds every component from a
// Config, owns the route table and runs the background work that keeps
// each instance's in-memory state fresh.
package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"sapient.dev/sapient/internal/api"
	"sapient.dev/sapient/internal/clientip"
	"sapient.dev/sapient/internal/console"
	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/keys"
	"sapient.dev/sapient/internal/metrics"
	"sapient.dev/sapient/internal/oauth"
	"sapient.dev/sapient/internal/ratelimit"
	"sapient.dev/sapient/internal/scope"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/token"
	"sapient.dev/sapient/internal/usage"
	"sapient.dev/sapient/internal/user"
)

// Config is everything a Server needs. Zero values take the defaults
// noted.
type Config struct {
	Store    store.Store // required, migrated
	KEK      *keys.KEK   // required
	Logger   *slog.Logger
	Now      func() time.Time // default time.Now
	Rand     io.Reader        // default crypto/rand
	Issuer   string           // default http://localhost:8080
	Audience string           // default: Issuer
	TokenTTL time.Duration    // default 1h

	SigningAlgorithm jose.SignatureAlgorithm // default ES256
	KeyRotation      time.Duration           // default 30 days; negative disables
	KeyPublishLead   time.Duration           // default 15 minutes

	// SyncInterval is how often changes made by other instances are
	// polled; default 250ms, so revocations everywhere apply within 1s.
	SyncInterval time.Duration
	// FlushInterval is how often usage is written; default 1s.
	FlushInterval time.Duration

	// Registry receives the metrics; default a new registry.
	Registry *prometheus.Registry

	// TrustedProxies are the networks whose X-Forwarded-For is believed;
	// none by default.
	TrustedProxies []netip.Prefix
	// TokenRateLimit and APIRateLimit are the per-credential limits, in
	// requests per second, for organisations that set none. Zero takes the
	// default (100 and 1000); negative means unlimited.
	TokenRateLimit int
	APIRateLimit   int

	// Retention is how long usage counters and audit events are kept;
	// default 400 days.
	Retention time.Duration

	// SkipCredentialPreload leaves credentials in the database until
	// first used. By default every credential that is not revoked is read
	// into memory in the background at start (about 100 bytes each), so
	// that no token request waits for a database read.
	SkipCredentialPreload bool
}

// Server is one Sapient instance.
type Server struct {
	cfg         Config
	log         *slog.Logger
	mux         *http.ServeMux
	handler     http.Handler
	Keys        *keys.Manager
	Credentials *credential.Service
	Users       *user.Service
	Cache       *credential.Cache
	Orgs        *credential.OrgCache
	// Limiter and APILimiter hold the per-credential rate limits of the
	// token endpoint and of API calls: separate budgets, so that one never
	// spends or resets the other.
	Limiter     *ratelimit.Limiter
	APILimiter  *ratelimit.Limiter
	ClientIP    *clientip.Resolver
	Denylist    *token.Denylist
	Usage       *usage.Recorder
	Verifier    *token.Verifier
	Metrics     *metrics.Metrics
	registry    *prometheus.Registry
	console     *console.Console
	limitAudits rateLimitAudits

	stopOnce  sync.Once
	stop      chan struct{}
	done      chan struct{}
	preloaded chan struct{}
	cancel    context.CancelFunc // stops the preload
}

func (c *Config) defaults() error {
	if c.Store == nil || c.KEK == nil {
		return errors.New("server: Config.Store and Config.KEK are required")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Logger = slog.New(requestIDHandler{c.Logger.Handler()})
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	if c.Issuer == "" {
		c.Issuer = "http://localhost:8080"
	}
	c.Issuer = strings.TrimRight(c.Issuer, "/")
	if c.Audience == "" {
		c.Audience = c.Issuer
	}
	if c.TokenTTL <= 0 {
		c.TokenTTL = time.Hour
	}
	if c.SigningAlgorithm == "" {
		c.SigningAlgorithm = jose.ES256
	}
	if c.KeyRotation == 0 {
		c.KeyRotation = 30 * 24 * time.Hour
	}
	if c.KeyPublishLead <= 0 {
		c.KeyPublishLead = 15 * time.Minute
	}
	if c.SyncInterval <= 0 {
		c.SyncInterval = 250 * time.Millisecond
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = time.Second
	}
	switch {
	case c.TokenRateLimit == 0:
		c.TokenRateLimit = 100
	case c.TokenRateLimit < 0:
		c.TokenRateLimit = 0
	}
	switch {
	case c.APIRateLimit == 0:
		c.APIRateLimit = 1000
	case c.APIRateLimit < 0:
		c.APIRateLimit = 0
	}
	if c.Retention <= 0 {
		c.Retention = 400 * 24 * time.Hour
	}
	if c.Registry == nil {
		c.Registry = prometheus.NewRegistry()
		c.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	return nil
}

// New builds a Server: it defines the built-in scopes, loads or creates
// the signing keys and starts the background work. Call Close to stop it.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if err := scope.EnsureBuiltin(ctx, cfg.Store, cfg.Now().UTC()); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	rotation := cfg.KeyRotation
	if rotation < 0 {
		rotation = 0
	}
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		registry: cfg.Registry,
		Metrics:  metrics.New(cfg.Registry),
		Keys: &keys.Manager{
			Store: cfg.Store, KEK: cfg.KEK, Algorithm: cfg.SigningAlgorithm, Rotation: rotation,
			PublishLead: cfg.KeyPublishLead, TokenTTL: cfg.TokenTTL, Now: cfg.Now, Rand: cfg.Rand, Logger: cfg.Logger,
		},
		Cache:      credential.NewCache(cfg.Store),
		Orgs:       credential.NewOrgCache(cfg.Store),
		Limiter:    ratelimit.New(),
		APILimiter: ratelimit.New(),
		ClientIP:   &clientip.Resolver{TrustedProxies: cfg.TrustedProxies},
		Denylist:   token.NewDenylist(),
		Usage:      usage.NewRecorder(cfg.Store),
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
		preloaded:  make(chan struct{}),
	}
	if err := s.Keys.Init(ctx); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if err := s.Denylist.Sync(ctx, cfg.Store, time.Time{}, cfg.Now()); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	s.Cache.Orgs = s.Orgs // a credential first read here is judged against its organisation as new
	s.Credentials = &credential.Service{Store: cfg.Store, Now: cfg.Now, Rand: cfg.Rand, Changed: s.Cache.Put, OrgChanged: s.Orgs.Put}
	s.Users = &user.Service{Store: cfg.Store, Now: cfg.Now, Rand: cfg.Rand}
	s.Verifier = &token.Verifier{
		Keys: s.Keys, Issuer: cfg.Issuer, Audience: cfg.Audience,
		Credentials: s.Cache, Orgs: s.Orgs, Denylist: s.Denylist, Now: cfg.Now,
	}
	if err := s.routes(); err != nil {
		return nil, err
	}
	go s.background()
	var preloadCtx context.Context
	preloadCtx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	go s.preload(preloadCtx)
	return s, nil
}

// preload reads every credential into memory, unless configured not to;
// requests are served meanwhile, reading the database as needed.
func (s *Server) preload(ctx context.Context) {
	defer close(s.preloaded)
	if s.cfg.SkipCredentialPreload {
		return
	}
	start := time.Now()
	n, err := s.Cache.Load(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("credential preload failed; credentials are read from the database when first used", "err", err)
		}
		return
	}
	if n >= 100_000 {
		// Reading them made about a kilobyte of garbage each; hand it
		// back now rather than carry it as resident memory.
		debug.FreeOSMemory()
	}
	s.log.Info("credentials in memory", "credentials", n, "took", time.Since(start).Round(time.Millisecond))
}

// Preloaded is closed once the credential preload has ended (or was
// skipped, or failed, or was stopped by Close).
func (s *Server) Preloaded() <-chan struct{} { return s.preloaded }

// Handler is the HTTP handler of the whole instance.
func (s *Server) Handler() http.Handler { return s.handler }

// Issuer is the issuer URL tokens carry.
func (s *Server) Issuer() string { return s.cfg.Issuer }

// Close stops the background work and writes pending usage. It does not
// close the store.
func (s *Server) Close() error {
	s.stopOnce.Do(func() { close(s.stop) })
	s.cancel()
	<-s.preloaded
	<-s.done
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.Usage.Flush(ctx)
}

// background keeps this instance in step with the database, in two loops
// so that no write ever delays seeing what others changed: on SQLite a
// usage fold holds the write lock for seconds with a million credentials
// in use, and any write of this instance (the next flush, pruning, key
// rotation) waits behind it, while reads go on.
func (s *Server) background() {
	defer close(s.done)
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(s.writeLoop)
	s.syncLoop()
}

// syncLoop applies credential, organisation and token changes made by
// other instances or the CLI (every SyncInterval, so within a second), and
// forgets the rate-limit buckets of clients gone quiet (every second: with
// many credentials each used now and then, they would otherwise pile up).
// It only reads the database.
func (s *Server) syncLoop() {
	syncT := time.NewTicker(s.cfg.SyncInterval)
	pruneT := time.NewTicker(ratelimit.FullAfter)
	defer syncT.Stop()
	defer pruneT.Stop()
	// Changes are polled with an overlap, so that a transaction that
	// committed a little after its timestamp is still seen.
	const overlap = 5 * time.Second
	since := s.cfg.Now().Add(-overlap)
	ctx := context.Background()
	for {
		select {
		case <-s.stop:
			return
		case <-syncT.C:
			now := s.cfg.Now()
			err1 := s.pollChanges(ctx, since)
			err2 := s.Denylist.Sync(ctx, s.cfg.Store, since, now)
			if err := errors.Join(err1, err2); err != nil {
				s.log.Warn("sync with database failed", "err", err)
				continue
			}
			since = now.Add(-overlap)
		case <-pruneT.C:
			idle := s.cfg.Now().Add(-ratelimit.FullAfter)
			s.Limiter.Prune(idle)
			s.APILimiter.Prune(idle)
		}
	}
}

// pollChanges puts the credentials and organisations changed since the
// given time into the caches, which keep of each the version with the
// higher Version.
func (s *Server) pollChanges(ctx context.Context, since time.Time) error {
	creds, err1 := s.cfg.Store.CredentialsUpdatedSince(ctx, since)
	for _, c := range creds {
		s.Cache.Put(c)
	}
	orgs, err2 := s.cfg.Store.OrgsUpdatedSince(ctx, since)
	for _, o := range orgs {
		s.Orgs.Put(o)
	}
	return errors.Join(err1, err2)
}

// writeLoop writes usage (every FlushInterval) and does the upkeep of every
// minute: key rotation, forgetting expired token revocations, and once an
// hour pruning usage and audit events past the retention.
func (s *Server) writeLoop() {
	flushT := time.NewTicker(s.cfg.FlushInterval)
	keysT := time.NewTicker(time.Minute)
	defer flushT.Stop()
	defer keysT.Stop()
	ctx := context.Background()
	var lastPrune time.Time
	for {
		select {
		case <-s.stop:
			return
		case <-flushT.C:
			if err := s.Usage.Flush(ctx); err != nil {
				s.log.Warn("usage flush failed", "err", err)
			}
		case <-keysT.C:
			if err := s.Keys.Tick(ctx); err != nil {
				s.log.Warn("signing key maintenance failed", "err", err)
			}
			if _, err := s.cfg.Store.PruneRevokedTokens(ctx, s.cfg.Now().Add(-time.Hour)); err != nil {
				s.log.Warn("pruning revoked tokens failed", "err", err)
			}
			if now := s.cfg.Now(); now.Sub(lastPrune) >= time.Hour {
				lastPrune = now
				s.Prune(ctx, now)
			}
		}
	}
}

// Prune deletes usage counters and audit events older than the retention.
// The background work calls it hourly.
func (s *Server) Prune(ctx context.Context, now time.Time) {
	cutoff := now.Add(-s.cfg.Retention)
	u, err1 := s.cfg.Store.PruneUsage(ctx, cutoff)
	a, err2 := s.cfg.Store.PruneAudit(ctx, cutoff)
	_, err3 := s.cfg.Store.DeleteExpiredSessions(ctx, now, now.Add(-user.SessionIdle))
	if err := errors.Join(err1, err2, err3); err != nil {
		s.log.Warn("retention pruning failed", "err", err)
		return
	}
	if u+a > 0 {
		s.log.Info("retention pruning", "usage_buckets", u, "audit_events", a, "before", cutoff)
	}
}

func (s *Server) oauthHandlers() (tok, introspect, revoke, discovery, jwks http.Handler) {
	c := s.cfg
	tok = &oauth.TokenHandler{
		Credentials: s.Cache, Orgs: s.Orgs, Usage: s.Usage, Metrics: s.Metrics, Logger: s.log, Now: c.Now,
		Issuer:   &token.Issuer{Signer: s.Keys, Issuer: c.Issuer, Audience: c.Audience, TTL: c.TokenTTL, Rand: c.Rand},
		ClientIP: s.ClientIP, Limiter: s.Limiter, DefaultRateLimit: c.TokenRateLimit, RateLimited: s.rateLimited,
	}
	introspect = &oauth.IntrospectHandler{Credentials: s.Cache, Verifier: s.Verifier, Usage: s.Usage, Logger: s.log, Now: c.Now,
		ClientIP: s.ClientIP, Refused: s.introspectionRefused}
	revoke = &oauth.RevokeHandler{Credentials: s.Cache, Verifier: s.Verifier, Denylist: s.Denylist, Store: c.Store, Logger: s.log, Now: c.Now}
	discovery = &oauth.DiscoveryHandler{Issuer: c.Issuer, Scopes: c.Store, Logger: s.log}
	jwks = &oauth.JWKSHandler{Keys: s.Keys, Logger: s.log}
	return
}

func (s *Server) newAPI() *api.API {
	auth := &api.Auth{
		Verifier: s.Verifier, Sessions: s.sessionSource(), Usage: s.Usage, Metrics: s.Metrics, Logger: s.log,
		Now: s.cfg.Now, ClientIP: s.ClientIP, Limiter: s.APILimiter, DefaultRateLimit: s.cfg.APIRateLimit, RateLimited: s.rateLimited,
	}
	return api.New(api.Config{Auth: auth, Credentials: s.Credentials, Store: s.cfg.Store, Logger: s.log, Now: s.cfg.Now})
}
