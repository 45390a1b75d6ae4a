// Package server assembles Sapient: it builds every component from a
// Config, owns the route table and runs the background work that keeps
// each instance's in-memory state fresh.
package server

import (
	"cmp"
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
	"sapient.dev/sapient/internal/edge"
	"sapient.dev/sapient/internal/keys"
	"sapient.dev/sapient/internal/mail"
	"sapient.dev/sapient/internal/metrics"
	"sapient.dev/sapient/internal/oauth"
	"sapient.dev/sapient/internal/org"
	"sapient.dev/sapient/internal/ratelimit"
	"sapient.dev/sapient/internal/resource"
	"sapient.dev/sapient/internal/scope"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/token"
	"sapient.dev/sapient/internal/usage"
	"sapient.dev/sapient/internal/user"
	"sapient.dev/sapient/internal/webhook"
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

	// SyncInterval is how often the change log is read for changes made by
	// other instances and the CLI; default 250ms, so that revocations apply
	// everywhere within a second even where the database announces nothing
	// (SQLite). On PostgreSQL every committed change is announced
	// (LISTEN/NOTIFY) and read at once.
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
	// ClientFailureLimit is how many failed client authentications a
	// second one client address may make at the OAuth endpoints, after a
	// burst of five times as many. Zero takes the default (20); negative
	// means unlimited.
	ClientFailureLimit int

	// Retention is how long usage counters and audit events are kept;
	// default 400 days.
	Retention time.Duration

	// Password are the argon2id parameters of new password hashes; zero
	// means user.DefaultPasswordParams. Tests use cheap ones.
	Password user.PasswordParams
	// Logins bounds the console's password checks and the logins waiting
	// for one; nil means user.NewLoginQueue().
	Logins *user.LoginQueue
	// RedisURL, when set, names the Redis server (redis://, rediss:// or
	// unix://) through which every instance shares the per-credential rate
	// limits and the login throttle; unset, they are per instance. A Redis
	// that does not answer leaves them per instance until it does.
	RedisURL string
	// RedisPrefix begins every key written in Redis; default "sapient:".
	// Instances that share limits use the same.
	RedisPrefix string
	// RedisTimeout bounds each call to Redis; default 50ms.
	RedisTimeout time.Duration

	// LeakRateLimit is how many reports a second one client address may
	// send to POST /leaks; zero takes leak.DefaultRate, negative means
	// unlimited.
	LeakRateLimit int
	// GitHubKeysURL is where the public keys of GitHub's secret scanning
	// alerts (POST /leaks/github) are fetched; default
	// leak.DefaultGitHubKeysURL.
	GitHubKeysURL string

	// SkipCredentialPreload leaves credentials in the database until
	// first used. By default every credential that is not revoked is read
	// into memory in the background at start (about 100 bytes each), so
	// that no token request waits for a database read.
	SkipCredentialPreload bool

	// Webhooks tunes the delivery of events (see package webhook).
	Webhooks webhook.Options
	// Mailer sends invitation and password reset links; nil sends none
	// (the console shows Admins the links instead).
	Mailer *mail.Mailer
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
	Orgs        *org.Cache
	// Limiter and APILimiter hold the per-credential rate limits of the
	// token endpoint and of API calls: separate budgets, so that one never
	// spends or resets the other.
	// With Config.RedisURL they are shared by every instance.
	Limiter    ratelimit.Allower
	APILimiter ratelimit.Allower
	ClientIP   *clientip.Resolver
	Denylist   *token.Denylist
	// Resources are the APIs tokens may be issued for (RFC 8707).
	Resources *resource.Set
	Usage     *usage.Recorder
	Verifier  *token.Verifier
	Metrics   *metrics.Metrics
	// Webhooks holds the rules of webhook endpoints; WebhookQueue
	// enqueues their events and delivers them.
	Webhooks     *webhook.Service
	WebhookQueue *webhook.Queue
	registry     *prometheus.Registry
	console      *console.Console
	limitAudits  rateLimitAudits
	redis        *ratelimit.Redis // nil without Config.RedisURL
	throttle     *user.Throttle   // the console's login throttle; nil takes its default

	// syncMu serialises Sync steps; cursor is the position in the change
	// log of the last change applied.
	syncMu  sync.Mutex
	cursor  int64
	applied broadcast     // fires when a Sync step applied changes
	wake    chan struct{} // a Sync step is wanted now (see kick)
	// draining is closed by Drain: requests that wait for changes end.
	draining  chan struct{}
	drainOnce sync.Once

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
		Orgs:       org.NewCache(cfg.Store),
		Limiter:    ratelimit.New(),
		APILimiter: ratelimit.New(),
		ClientIP:   &clientip.Resolver{TrustedProxies: cfg.TrustedProxies},
		Denylist:   token.NewDenylist(),
		Resources:  &resource.Set{},
		Usage:      usage.NewRecorder(cfg.Store),
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
		preloaded:  make(chan struct{}),
		draining:   make(chan struct{}),
		wake:       make(chan struct{}, 1),
	}
	// The position in the change log comes first: whatever changes while
	// the keys, the revoked tokens and the credentials are read is applied
	// by the first Sync step, again if need be.
	var err error
	if s.cursor, err = cfg.Store.LastChange(ctx); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if err := s.Keys.Init(ctx); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if err := s.Denylist.Load(ctx, cfg.Store, cfg.Now()); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if err := s.Resources.Load(ctx, cfg.Store); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	s.Cache.Orgs = s.Orgs // a credential first read here is judged against its organisation as new
	s.Credentials = &credential.Service{Store: cfg.Store, Now: cfg.Now, Rand: cfg.Rand,
		Changed:    func(c store.Credential) { s.Cache.Put(c); s.kick() },
		OrgChanged: func(o store.Org) { s.Orgs.Put(o); s.kick() }}
	s.Users = &user.Service{Store: cfg.Store, Now: cfg.Now, Rand: cfg.Rand, Password: cfg.Password}
	s.Verifier = &token.Verifier{
		Keys: s.Keys, Issuer: cfg.Issuer, Audience: cfg.Audience,
		Credentials: s.Cache, Orgs: s.Orgs, Denylist: s.Denylist, Now: cfg.Now,
	}
	s.Webhooks = &webhook.Service{Store: cfg.Store, KEK: cfg.KEK, Now: cfg.Now, Rand: cfg.Rand, AllowPrivate: cfg.Webhooks.AllowPrivate}
	if s.WebhookQueue, err = webhook.NewQueue(webhook.QueueConfig{Store: cfg.Store, KEK: cfg.KEK, Logger: cfg.Logger,
		Now: cfg.Now, Options: cfg.Webhooks, Work: true}); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if err := s.WebhookQueue.Start(context.WithoutCancel(ctx)); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if err := s.shareLimits(ctx); err != nil {
		s.WebhookQueue.Stop(ctx)
		return nil, err
	}
	if err := s.routes(); err != nil {
		s.WebhookQueue.Stop(ctx)
		s.closeRedis()
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
	s.Drain()
	s.stopOnce.Do(func() { close(s.stop) })
	s.cancel()
	<-s.preloaded
	<-s.done
	s.closeRedis()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WebhookQueue.Stop(ctx); err != nil {
		s.log.Warn("stopping the webhook queue failed", "err", err)
	}
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

// ChangeRetention is how long entries of the change log are kept: an
// instance reads them within a second, and one that starts reads
// everything afresh.
const ChangeRetention = 7 * 24 * time.Hour

// Prune deletes usage counters and audit events older than the retention.
// The background work calls it hourly.
func (s *Server) Prune(ctx context.Context, now time.Time) {
	cutoff := now.Add(-s.cfg.Retention)
	u, err1 := s.cfg.Store.PruneUsage(ctx, cutoff)
	a, err2 := s.cfg.Store.PruneAudit(ctx, cutoff)
	_, err3 := s.cfg.Store.DeleteExpiredSessions(ctx, now, now.Add(-user.SessionIdle))
	_, err4 := s.cfg.Store.PruneChanges(ctx, now.Add(-ChangeRetention))
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		s.log.Warn("retention pruning failed", "err", err)
		return
	}
	if u+a > 0 {
		s.log.Info("retention pruning", "usage_buckets", u, "audit_events", a, "before", cutoff)
	}
}

func (s *Server) oauthHandlers() (tok, introspect, revoke, discovery, jwks http.Handler) {
	c := s.cfg
	failures := oauth.NewFailureLimiter(cmp.Or(c.ClientFailureLimit, oauth.DefaultFailureRate), 5*cmp.Or(c.ClientFailureLimit, oauth.DefaultFailureRate))
	tok = &oauth.TokenHandler{
		Credentials: s.Cache, Orgs: s.Orgs, Usage: s.Usage, Metrics: s.Metrics, Logger: s.log, Now: c.Now,
		Issuer:   &token.Issuer{Signer: s.Keys, Issuer: c.Issuer, Audience: c.Audience, TTL: c.TokenTTL, Rand: c.Rand},
		ClientIP: s.ClientIP, Limiter: s.Limiter, DefaultRateLimit: c.TokenRateLimit, RateLimited: s.rateLimited, Failures: failures,
		Resources: s.Resources,
	}
	introspect = &oauth.IntrospectHandler{Credentials: s.Cache, Verifier: s.Verifier, Usage: s.Usage, Logger: s.log, Now: c.Now,
		ClientIP: s.ClientIP, Refused: s.introspectionRefused, Failures: failures}
	revoke = &oauth.RevokeHandler{Credentials: s.Cache, Verifier: s.Verifier, Denylist: s.Denylist, Store: c.Store, Logger: s.log, Now: c.Now,
		ClientIP: s.ClientIP, Failures: failures}
	discovery = &oauth.DiscoveryHandler{Issuer: c.Issuer, Scopes: c.Store, Logger: s.log}
	jwks = &oauth.JWKSHandler{Keys: s.Keys, Logger: s.log}
	return
}

func (s *Server) newAPI() *api.API {
	return api.New(api.Config{Auth: s.apiAuth(), Credentials: s.Credentials, Webhooks: s.Webhooks, Store: s.cfg.Store, Logger: s.log, Now: s.cfg.Now,
		Users: s.Users, Issuer: s.cfg.Issuer, Mailer: s.cfg.Mailer})
}

func (s *Server) apiAuth() *api.Auth {
	return &api.Auth{
		Verifier: s.Verifier, Sessions: s.sessionSource(), Usage: s.Usage, Metrics: s.Metrics, Logger: s.log,
		ClientIP: s.ClientIP, Limiter: s.APILimiter, DefaultRateLimit: s.cfg.APIRateLimit, RateLimited: s.rateLimited,
	}
}

// usageReports is POST /edge/usage, for verifiers holding sapient:verify.
func (s *Server) usageReports() http.Handler {
	return s.apiAuth().Bearer(&edge.ReportHandler{Credentials: s.Cache, Usage: s.Usage, Logger: s.log, Now: s.cfg.Now}, scope.Verify)
}

// revocationFeed is GET /edge/revocations, for verifiers holding
// sapient:verify.
func (s *Server) revocationFeed() http.Handler {
	return s.apiAuth().Bearer(&edge.Feed{Store: s.cfg.Store, Logger: s.log, Changed: s.Changed, Draining: s.draining}, scope.Verify)
}

func (s *Server) edgeCheck() http.Handler {
	return &edge.Check{
		Verifier: s.Verifier, Usage: s.Usage, Metrics: s.Metrics, Logger: s.log, Now: s.cfg.Now, ClientIP: s.ClientIP,
		Limiter: s.APILimiter, DefaultRateLimit: s.cfg.APIRateLimit, RateLimited: s.rateLimited,
	}
}
