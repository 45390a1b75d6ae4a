// Package redistest points tests at the machine's Redis, each under a key
// prefix of its own.
package redistest

import (
	"context"
	"crypto/rand"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// URLEnv names the variable that points the tests at a Redis server, for
// example redis://127.0.0.1:6379/0.
const URLEnv = "SAPIENT_TEST_REDIS_URL"

// RequireEnv, when set to 1, turns a missing Redis into a test failure
// instead of a skip. CI sets it.
const RequireEnv = "SAPIENT_TEST_REQUIRE_REDIS"

// URL returns the Redis URL of the tests and a key prefix no other test
// uses; the keys under it are deleted when the test ends. It skips the
// test when no Redis is configured or it does not answer.
func URL(t testing.TB) (url, prefix string) {
	t.Helper()
	url = os.Getenv(URLEnv)
	if url == "" {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("%s is not set but %s=1", URLEnv, RequireEnv)
		}
		t.Skipf("Redis tests skipped: set %s (for example redis://127.0.0.1:6379/0) to run them", URLEnv)
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("%s: %v", URLEnv, err)
	}
	c := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("Redis at %s does not answer: %v", URLEnv, err)
		}
		t.Skipf("Redis tests skipped: Redis at %s does not answer: %v", URLEnv, err)
	}
	prefix = "sapient_test_" + strings.ToLower(rand.Text()[:12]) + ":"
	t.Cleanup(func() {
		defer c.Close()
		ctx := context.Background()
		iter := c.Scan(ctx, 0, "*"+prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
	})
	return url, prefix
}

// ClosedURL is the URL of a Redis that cannot be reached: a port on the
// loopback address where nothing listens any more.
func ClosedURL(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "redis://" + addr + "/0"
}

// SilentURL is the URL of a Redis that accepts connections and never
// answers, as one too slow to wait for; it stops when the test ends.
func SilentURL(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(done)
				return
			}
			conns = append(conns, c) // held open, never read
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return "redis://" + l.Addr().String() + "/0"
}
