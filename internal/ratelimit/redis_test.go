package ratelimit_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"sapient.dev/sapient/internal/ratelimit"
	"sapient.dev/sapient/internal/ratelimit/redistest"
)

// logs is a goroutine-safe log sink.
type logs struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logs) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestParseRedisURL(t *testing.T) {
	for _, tc := range []struct {
		url, err string
	}{
		{"redis://127.0.0.1:6379/0", ""},
		{"redis://:s3cret-pass@127.0.0.1:6379/2", ""},
		{"rediss://user:s3cret-pass@redis.example.com:6380", ""},
		{"unix:///run/redis/redis.sock?db=1", ""},
		{"http://127.0.0.1:6379", "scheme must be redis://"},
		{"127.0.0.1:6379", "write it as redis://"},
		{"redis://:s3cret-pass@127.0.0.1:6379/not-a-number", "invalid database number"},
		{"redis://:s3cret-pass@/0", "names no host"},
		{"redis://:s3cret-pass@127.0.0.1:6379/0\x7f", "is not a URL"},
		{"redis://:s3cret-pass@127.0.0.1:6379/0?dial_timeout=soon", "dial_timeout"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			_, err := ratelimit.ParseRedisURL(tc.url)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("error %v, want one saying %q", err, tc.err)
			case err != nil && strings.Contains(err.Error(), "s3cret"):
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
	if got := ratelimit.RedactURL("redis://:s3cret-pass@127.0.0.1:6379/0"); strings.Contains(got, "s3cret") {
		t.Errorf("RedactURL = %q", got)
	}
}

// newRedis connects to url under prefix, with logs captured. Its calls
// may take a second: these tests are about what is shared, not about
// answers slower than DefaultRedisTimeout, which a busy test machine
// sometimes gives.
func newRedis(t *testing.T, url, prefix string, now func() time.Time, changed func(bool)) (*ratelimit.Redis, *logs) {
	t.Helper()
	l := &logs{}
	r, err := ratelimit.NewRedis(t.Context(), ratelimit.RedisConfig{
		URL: url, Prefix: prefix, Now: now, Changed: changed, Timeout: time.Second,
		Logger: slog.New(slog.NewJSONHandler(l, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, l
}

// TestSharedHoldsLimitAcrossInstances: three instances, each with its own
// connection and limiter, together hold one key to its limit: 60 requests
// spread over them at once get about 10 through, not 30.
func TestSharedHoldsLimitAcrossInstances(t *testing.T) {
	url, prefix := redistest.URL(t)
	var limiters []*ratelimit.Shared
	for range 3 {
		r, _ := newRedis(t, url, prefix, nil, nil)
		limiters = append(limiters, ratelimit.NewShared(r, "token"))
	}
	const limit, requests = 10, 60
	start := time.Now()
	allowed := 0
	for i := range requests {
		if ok, wait := limiters[i%3].Allow("sap_one", limit, time.Now()); ok {
			allowed++
		} else if wait <= 0 || wait > time.Second/limit {
			t.Errorf("refused with a wait of %v, want (0, 100ms]", wait)
		}
	}
	// The burst, and what the bucket refilled while the requests ran.
	most := limit + int(time.Since(start).Seconds()*limit) + 1
	t.Logf("%d of %d requests allowed over three instances (limit %d/s, burst %d, %v)", allowed, requests, limit, limit, time.Since(start))
	if allowed < limit || allowed > most {
		t.Errorf("%d requests allowed, want %d to %d", allowed, limit, most)
	}
	// Another key, and the same key under another name, have budgets of
	// their own.
	if ok, _ := limiters[0].Allow("sap_two", limit, time.Now()); !ok {
		t.Error("another key shares the budget")
	}
	r, _ := newRedis(t, url, prefix, nil, nil)
	if ok, _ := ratelimit.NewShared(r, "api").Allow("sap_one", limit, time.Now()); !ok {
		t.Error("the api budget shares the token budget")
	}
}

// TestSharedWithoutRedis: with a Redis that cannot be reached, requests
// are limited per instance; the outage is logged once and reported; no
// call goes to Redis until the retry interval has passed, and then one.
func TestSharedWithoutRedis(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	var states []bool
	r, l := newRedis(t, redistest.ClosedURL(t), "sapient:", clock, func(up bool) { states = append(states, up) })
	if r.Up() || len(states) != 1 || states[0] {
		t.Fatalf("Up() = %v, changes %v: want down from the start", r.Up(), states)
	}
	s := ratelimit.NewShared(r, "token")
	for i := range 5 {
		if ok, _ := s.Allow("sap_one", 5, now); !ok {
			t.Fatalf("request %d within the local burst refused", i+1)
		}
	}
	if ok, _ := s.Allow("sap_one", 5, now); ok {
		t.Error("the local limit did not hold")
	}
	if n := l.count("redis unreachable"); n != 1 {
		t.Errorf("the outage was logged %d times, want once:\n%s", n, l)
	}

	calls := 0
	call := func() error {
		return r.Call(func(ctx context.Context, c *redis.Client) error { calls++; return c.Ping(ctx).Err() })
	}
	if err := call(); !errors.Is(err, ratelimit.ErrRedisDown) || calls != 0 {
		t.Fatalf("a call while down: %v after %d round trips; want ErrRedisDown without one", err, calls)
	}
	now = now.Add(ratelimit.DefaultRedisRetry)
	if err := call(); err == nil || errors.Is(err, ratelimit.ErrRedisDown) || calls != 1 {
		t.Fatalf("the call after the retry interval: %v after %d round trips; want one, failing", err, calls)
	}
	if err := call(); !errors.Is(err, ratelimit.ErrRedisDown) || calls != 1 {
		t.Fatalf("the call after a failed retry: %v after %d round trips; want ErrRedisDown", err, calls)
	}
	if n := l.count("redis unreachable"); n != 1 || len(states) != 1 {
		t.Errorf("logged %d times, %d changes; want the outage once", n, len(states))
	}
}

// TestRedisOutageAndRecovery runs Redis behind a proxy that the test
// cuts and restores: the limits fall back to the instance and come back
// to Redis, each change logged and reported once.
func TestRedisOutageAndRecovery(t *testing.T) {
	url, prefix := redistest.URL(t)
	p := redistest.NewProxy(t, url)
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	step := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	var states []bool
	r, l := newRedis(t, p.URL, prefix, clock, func(up bool) { states = append(states, up) })
	s := ratelimit.NewShared(r, "token")
	first := time.Now()
	if ok, _ := s.Allow("sap_one", 3, clock()); !ok || !r.Up() {
		t.Fatalf("first request: allowed %v, up %v", ok, r.Up())
	}

	p.Cut()
	// The requests after the cut find out, the third marks Redis down;
	// the budget is now the instance's own, full.
	for i := range ratelimit.RedisFailures {
		if ok, _ := s.Allow("sap_one", 3, clock()); !ok {
			t.Fatalf("request %d during the outage refused", i+1)
		}
	}
	if r.Up() || r.Check() {
		t.Error("Redis still reported up during the outage")
	}

	p.Restore()
	if r.Check() {
		t.Error("Redis tried again before the retry interval")
	}
	step(ratelimit.DefaultRedisRetry)
	if !r.Check() {
		t.Fatal("Redis not seen back after the retry interval")
	}
	// Shared again: Redis remembers the request made before the cut.
	allowed := 0
	for range 3 {
		if ok, _ := s.Allow("sap_one", 3, clock()); ok {
			allowed++
		}
	}
	// What the bucket refilled since the first request may add to the two.
	if most := 2 + int(time.Since(first).Seconds()*3); allowed < 2 || allowed > most {
		t.Errorf("after recovery %d of 3 allowed, want 2 to %d (Redis counted one before the outage)", allowed, most)
	}
	if want := []bool{true, false, true}; len(states) != 3 || states[0] != true || states[1] != false || states[2] != true {
		t.Errorf("changes %v, want %v", states, want)
	}
	if down, up := l.count("redis unreachable"), l.count("redis answers again"); down != 1 || up != 1 {
		t.Errorf("logged the outage %d times and the recovery %d times, want once each:\n%s", down, up, l)
	}
}

// TestSharedWithSilentRedis: a Redis that accepts connections but does not
// answer costs one timeout at start, then requests are limited per
// instance without waiting for it.
func TestSharedWithSilentRedis(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	l := &logs{}
	r, err := ratelimit.NewRedis(t.Context(), ratelimit.RedisConfig{
		URL: redistest.SilentURL(t), Now: func() time.Time { return now },
		Logger: slog.New(slog.NewJSONHandler(l, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Up() || l.count("redis unreachable") != 1 || !strings.Contains(l.String(), "timeout") {
		t.Fatalf("a silent Redis: up %v, logs:\n%s", r.Up(), l)
	}
	s := ratelimit.NewShared(r, "token")
	allowed := 0
	for range 4 {
		if ok, _ := s.Allow("sap_one", 3, now); ok {
			allowed++
		}
	}
	if allowed != 3 {
		t.Errorf("%d of 4 allowed, want the local limit of 3", allowed)
	}
}
