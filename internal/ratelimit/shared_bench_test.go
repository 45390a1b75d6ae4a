package ratelimit_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"sapient.dev/sapient/internal/ratelimit"
	"sapient.dev/sapient/internal/ratelimit/redistest"
)

// BenchmarkAllow compares a check of the local limiter with one through
// Redis (a round trip and a Lua script), and through a Redis that is down
// (the breaker answers, then the local limiter), over 1,000 keys.
func BenchmarkAllow(b *testing.B) {
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprintf("sap_%04d", i)
	}
	run := func(b *testing.B, l ratelimit.Allower) {
		var n atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				l.Allow(keys[n.Add(1)%int64(len(keys))], 1<<30, time.Now())
			}
		})
	}
	b.Run("local", func(b *testing.B) { run(b, ratelimit.New()) })
	b.Run("redis", func(b *testing.B) {
		url, prefix := redistest.URL(b)
		r, err := ratelimit.NewRedis(b.Context(), ratelimit.RedisConfig{URL: url, Prefix: prefix})
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		run(b, ratelimit.NewShared(r, "token"))
	})
	b.Run("redis-down", func(b *testing.B) {
		r, err := ratelimit.NewRedis(b.Context(), ratelimit.RedisConfig{URL: redistest.ClosedURL(b)})
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		run(b, ratelimit.NewShared(r, "token"))
	})
}
