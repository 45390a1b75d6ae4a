package ratelimit

import (
	"context"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// Shared limits requests per key across every instance that shares its
// Redis: the buckets live in Redis, where redis_rate keeps them with the
// generic cell rate algorithm (GCRA), one Lua script per request, on
// Redis's clock, so the machines' clocks play no part. The limit is a
// token bucket of the same shape as Limiter's: perSec per second, a burst
// of perSec.
//
// While Redis is down (see Redis), Shared answers from a Limiter of its
// own, per instance, as if there were no Redis.
type Shared struct {
	redis *Redis
	name  string
	rate  *redis_rate.Limiter
	local *Limiter
}

// NewShared returns the limiter called name (for example "token" or
// "api": separate budgets) on r.
func NewShared(r *Redis, name string) *Shared {
	return &Shared{redis: r, name: name, rate: redis_rate.NewLimiter(r.client), local: New()}
}

// Allow takes one request from id's budget of perSec per second, like
// Limiter.Allow; now is used only by the per-instance fallback.
func (s *Shared) Allow(id string, perSec int, now time.Time) (bool, time.Duration) {
	if perSec <= 0 {
		return true, 0
	}
	var res *redis_rate.Result
	err := s.redis.Call(func(ctx context.Context, _ *redis.Client) (err error) {
		res, err = s.rate.Allow(ctx, s.redis.Key(s.name, id), redis_rate.PerSecond(perSec))
		return err
	})
	if err != nil {
		return s.local.Allow(id, perSec, now)
	}
	if res.Allowed > 0 {
		return true, 0
	}
	return false, max(res.RetryAfter, time.Millisecond)
}

// Prune forgets the fallback's idle buckets (Limiter.Prune); Redis expires
// its own once full.
func (s *Shared) Prune(before time.Time) { s.local.Prune(before) }
