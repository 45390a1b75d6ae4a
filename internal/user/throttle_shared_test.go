package user

import (
	"context"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"sapient.dev/sapient/internal/ratelimit"
	"sapient.dev/sapient/internal/ratelimit/redistest"
)

// sharedThrottle is one instance's throttle on the Redis at url.
func sharedThrottle(t *testing.T, url, prefix string) (*Throttle, *ratelimit.Redis) {
	t.Helper()
	r, err := ratelimit.NewRedis(t.Context(), ratelimit.RedisConfig{URL: url, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	th, _ := newTestThrottle()
	th.Shared = &RedisStrikes{Redis: r}
	return th, r
}

// TestThrottleSharedAcrossInstances: failures made on two instances count
// together, per account and per address, and a success on one is seen by
// the other. Redis holds no email address.
func TestThrottleSharedAcrossInstances(t *testing.T) {
	url, prefix := redistest.URL(t)
	a, r := sharedThrottle(t, url, prefix)
	b, _ := sharedThrottle(t, url, prefix)

	// The account: 3 failures here, 2 there, then both refuse.
	fail(t, a, "alice@acme.test", "192.0.2.1", 3)
	fail(t, b, "Alice@Acme.test", "192.0.2.2", 2)
	for name, th := range map[string]*Throttle{"a": a, "b": b} {
		if wait, ok := th.Attempt("alice@acme.test", "192.0.2.3"); ok || wait <= 0 || wait > DefaultBaseDelay {
			t.Errorf("instance %s after %d failures elsewhere: ok=%v wait=%v; want refused for up to %v",
				name, DefaultAccountFree, ok, wait, DefaultBaseDelay)
		}
	}

	// A success on one instance starts the account afresh on the other.
	fail(t, a, "bob@acme.test", "192.0.2.4", DefaultAccountFree-1)
	b.Succeeded("bob@acme.test", "192.0.2.4")
	fail(t, a, "bob@acme.test", "192.0.2.5", DefaultAccountFree)

	// The address: its free failures spread over both, on many accounts.
	for i := range DefaultIPFree {
		th := []*Throttle{a, b}[i%2]
		fail(t, th, strings.Repeat("x", i+1)+"@acme.test", "198.51.100.7", 1)
	}
	if n := b.Failures("198.51.100.7"); n != DefaultIPFree {
		t.Errorf("Failures = %d on the other instance, want %d", n, DefaultIPFree)
	}
	if _, ok := a.Attempt("someone@acme.test", "198.51.100.7"); ok {
		t.Error("the address's budget was not shared")
	}

	// An attempt taken back on one instance is taken back for both.
	fail(t, a, "carol@acme.test", "203.0.113.9", 1)
	if n := b.Failures("203.0.113.9"); n != 1 {
		t.Errorf("Failures = %d after one attempt elsewhere, want 1", n)
	}
	b.Undo("carol@acme.test", "203.0.113.9")
	if n := a.Failures("203.0.113.9"); n != 0 {
		t.Errorf("Failures = %d after Undo elsewhere, want 0", n)
	}

	err := r.Call(func(ctx context.Context, c *redis.Client) error {
		keys, err := c.Keys(ctx, prefix+"*").Result()
		for _, k := range keys {
			if strings.Contains(k, "acme.test") {
				t.Errorf("Redis key %q holds an email address", k)
			}
		}
		if len(keys) == 0 {
			t.Error("no keys in Redis: the throttle was not shared")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestThrottleWithoutRedis: with a Redis that cannot be reached, the
// throttle counts per instance as it does without Redis.
func TestThrottleWithoutRedis(t *testing.T) {
	th, _ := sharedThrottle(t, redistest.ClosedURL(t), "sapient:")
	fail(t, th, "alice@acme.test", "192.0.2.1", DefaultAccountFree)
	if wait, ok := th.Attempt("alice@acme.test", "192.0.2.1"); ok || wait != DefaultBaseDelay {
		t.Errorf("after %d failures: ok=%v wait=%v; want refused for %v", DefaultAccountFree, ok, wait, DefaultBaseDelay)
	}
	th.Succeeded("alice@acme.test", "192.0.2.1")
	if _, ok := th.Attempt("alice@acme.test", "192.0.2.1"); !ok {
		t.Error("a success did not start the account afresh")
	}
}
