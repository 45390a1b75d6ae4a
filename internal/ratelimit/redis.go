package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// ErrRedisDown is returned by Redis.Call, without a round trip, while
// Redis is taken to be unreachable.
var ErrRedisDown = errors.New("ratelimit: redis unavailable")

// Redis defaults.
const (
	// DefaultRedisTimeout bounds each call to Redis: a limit checked on
	// every request must not wait for a Redis that answers slowly.
	DefaultRedisTimeout = 50 * time.Millisecond
	// DefaultRedisRetry is how long after a failed call the next call
	// tries Redis again; calls in between use the per-instance limits.
	DefaultRedisRetry = time.Second
	// DefaultRedisPrefix begins every key Sapient writes.
	DefaultRedisPrefix = "sapient:"
	// RedisFailures is how many calls in a row must fail for Redis to be
	// taken as down.
	RedisFailures = 3
)

// RedisConfig configures NewRedis.
type RedisConfig struct {
	// URL names the server: redis://[user:password@]host:port/db,
	// rediss:// for TLS, or unix:///path/to/socket.
	URL string
	// Prefix begins every key; default DefaultRedisPrefix. Instances that
	// share limits use the same prefix.
	Prefix string
	// Timeout bounds each call (DefaultRedisTimeout); Retry is how long
	// calls skip Redis after one failed (DefaultRedisRetry).
	Timeout, Retry time.Duration
	Logger         *slog.Logger
	Now            func() time.Time // default time.Now
	// Changed, if set, is told whether Redis answers: once at start and
	// at every change after (for the sapient_redis_up gauge).
	Changed func(up bool)
}

// Redis is the connection through which instances share limits, behind a
// circuit breaker: RedisFailures calls in a row that fail or take longer
// than the timeout mark Redis down (a call that fails alone, a moment of
// load, falls back for itself only), and for the next Retry every call returns
// ErrRedisDown at once, so that requests pay no round trip to a Redis
// that does not answer and fall back to per-instance limits. After Retry
// one call tries again; its success marks Redis up. Each change is logged
// once.
type Redis struct {
	client  *redis.Client
	prefix  string
	timeout time.Duration
	retry   time.Duration
	log     *slog.Logger
	now     func() time.Time
	changed func(bool)
	url     string // redacted

	up       atomic.Bool
	failures atomic.Int32 // calls failed in a row
	retryAt  atomic.Int64 // Unix nanoseconds: when a call may try Redis again while down
}

// ParseRedisURL checks a Redis URL and returns the client options it
// names. Its errors never contain the URL's password.
func ParseRedisURL(raw string) (*redis.Options, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("ratelimit: the redis URL is not a URL; write it as redis://HOST:PORT/DB")
	}
	switch u.Scheme {
	case "redis", "rediss", "unix":
	default:
		return nil, fmt.Errorf("ratelimit: redis URL %s: the scheme must be redis://, rediss:// or unix://", RedactURL(raw))
	}
	if u.Scheme != "unix" && u.Host == "" {
		return nil, fmt.Errorf("ratelimit: redis URL %s names no host", RedactURL(raw))
	}
	opts, err := redis.ParseURL(raw)
	if err != nil {
		// go-redis names the part it refused (a database number, an
		// option), never the password.
		return nil, fmt.Errorf("ratelimit: redis URL %s: %s", RedactURL(raw), strings.TrimPrefix(err.Error(), "redis: "))
	}
	return opts, nil
}

// RedactURL hides the password of a URL, for logs and messages.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// NewRedis connects to the Redis server of cfg.URL. A URL that is wrong
// is an error; a server that does not answer is not: the Redis returned
// starts down, says so in the log, and is tried again as calls come.
func NewRedis(ctx context.Context, cfg RedisConfig) (*Redis, error) {
	opts, err := ParseRedisURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	r := &Redis{
		prefix: cfg.Prefix, timeout: cfg.Timeout, retry: cfg.Retry,
		log: cfg.Logger, now: cfg.Now, changed: cfg.Changed, url: RedactURL(cfg.URL),
	}
	if r.prefix == "" {
		r.prefix = DefaultRedisPrefix
	}
	if r.timeout <= 0 {
		r.timeout = DefaultRedisTimeout
	}
	if r.retry <= 0 {
		r.retry = DefaultRedisRetry
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.changed == nil {
		r.changed = func(bool) {}
	}
	// Every wait is bounded by the call's timeout, and a failed call is
	// not retried: the breaker decides when to try again.
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout, opts.PoolTimeout = r.timeout, r.timeout, r.timeout, r.timeout
	opts.ContextTimeoutEnabled = true
	opts.MaxRetries, opts.DialerRetries = -1, 1
	opts.DisableIdentity = true
	opts.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	r.client = redis.NewClient(opts)

	pingCtx, cancel := context.WithTimeout(ctx, max(r.timeout, time.Second))
	defer cancel()
	if err := r.client.Ping(pingCtx).Err(); err != nil {
		r.retryAt.Store(r.now().Add(r.retry).UnixNano())
		r.log.Warn("redis unreachable at start: rate limits and login throttles are per instance until it answers",
			"redis", r.url, "err", err)
		r.changed(false)
		return r, nil
	}
	r.up.Store(true)
	r.log.Info("rate limits and login throttles shared through redis", "redis", r.url)
	r.changed(true)
	return r, nil
}

// Key is the Redis key of parts, under the prefix.
func (r *Redis) Key(parts ...string) string {
	return r.prefix + strings.Join(parts, ":")
}

// Up reports whether the last call to Redis succeeded.
func (r *Redis) Up() bool { return r.up.Load() }

// Check reports whether Redis answers, trying it (a PING) if it is down
// and due for another try: the readiness check calls it, so that a
// recovery is seen even when no request has come.
func (r *Redis) Check() bool {
	if r.up.Load() {
		return true
	}
	r.Call(func(ctx context.Context, c *redis.Client) error { return c.Ping(ctx).Err() })
	return r.up.Load()
}

// Call runs fn with the client and a context bounded by the timeout, and
// records its outcome in the breaker. While Redis is down it returns
// ErrRedisDown without calling fn, except for one call each Retry.
func (r *Redis) Call(fn func(ctx context.Context, c *redis.Client) error) error {
	if !r.admit() {
		return ErrRedisDown
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	err := fn(ctx, r.client)
	if errors.Is(err, redis.Nil) {
		err = nil
	}
	r.record(err)
	return err
}

// admit reports whether a call may go to Redis: always while it is up,
// and while it is down, one call once the retry time has come.
func (r *Redis) admit() bool {
	if r.up.Load() {
		return true
	}
	at, now := r.retryAt.Load(), r.now().UnixNano()
	return now >= at && r.retryAt.CompareAndSwap(at, now+int64(r.retry))
}

// record marks Redis up or down after a call, logging a change once.
func (r *Redis) record(err error) {
	if err == nil {
		r.failures.Store(0)
		if !r.up.Swap(true) {
			r.log.Info("redis answers again: rate limits and login throttles are shared", "redis", r.url)
			r.changed(true)
		}
		return
	}
	if r.failures.Add(1) < RedisFailures && r.up.Load() {
		return
	}
	r.retryAt.Store(r.now().Add(r.retry).UnixNano())
	if r.up.Swap(false) {
		r.log.Warn("redis unreachable: rate limits and login throttles are per instance until it answers",
			"redis", r.url, "err", err)
		r.changed(false)
	}
}

// RedisLogsTo sends the Redis client library's own messages (a failed
// dial, for one) to log at debug level: the outage itself is logged once
// by Redis. It sets the library's logger for the whole process, so only
// the command line calls it, once, at start.
func RedisLogsTo(log *slog.Logger) { redis.SetLogger(libraryLog{log}) }

// libraryLog adapts slog to go-redis's logging interface.
type libraryLog struct{ log *slog.Logger }

func (l libraryLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, fmt.Sprintf(format, v...))
}

// Close closes the connections.
func (r *Redis) Close() error { return r.client.Close() }
