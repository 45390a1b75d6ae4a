// Package ratelimit limits requests per key (a client ID) with token
// buckets, locally to one instance. With several instances each enforces
// the limit on its own, so a client spread over N instances can reach up
// to N times the limit.
package ratelimit

import (
	"hash/maphash"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

const shards = 32

// Limiter holds one token bucket per key. The zero value is not usable;
// call New.
type Limiter struct {
	seed   maphash.Seed
	shards [shards]shard
}

type shard struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	lim      *rate.Limiter
	perSec   int
	lastSeen time.Time
}

// New returns an empty limiter.
func New() *Limiter {
	l := &Limiter{seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].buckets = map[string]*bucket{}
	}
	return l
}

// Allow takes one token from key's bucket, which refills at perSec per
// second and holds perSec tokens (one second of burst). A limit of zero or
// less means unlimited. When refused it returns how long until a token is
// available.
func (l *Limiter) Allow(key string, perSec int, now time.Time) (bool, time.Duration) {
	if perSec <= 0 {
		return true, 0
	}
	sh := &l.shards[maphash.String(l.seed, key)%shards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	b := sh.buckets[key]
	if b == nil || b.perSec != perSec {
		b = &bucket{lim: rate.NewLimiter(rate.Limit(perSec), perSec), perSec: perSec}
		sh.buckets[key] = b
	}
	b.lastSeen = now
	if b.lim.AllowN(now, 1) {
		return true, 0
	}
	r := b.lim.ReserveN(now, 1)
	wait := r.DelayFrom(now)
	r.CancelAt(now)
	return false, wait
}

// FullAfter is how long an unused bucket takes at most to refill to its
// burst.
const FullAfter = time.Second

// RetryAfter rounds a wait up to whole seconds for a Retry-After header
// (RFC 9110 §10.2.3), at least 1.
func RetryAfter(wait time.Duration) int {
	return max(1, int(math.Ceil(wait.Seconds())))
}

// Prune forgets buckets unused since before, so that memory follows the
// set of active clients. A bucket refills to its burst within a second, so
// one unused since a second ago is in the state a new one starts in:
// Prune(now.Add(-FullAfter)) changes no answer.
func (l *Limiter) Prune(before time.Time) {
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		for k, b := range sh.buckets {
			if b.lastSeen.Before(before) {
				delete(sh.buckets, k)
			}
		}
		sh.mu.Unlock()
	}
}
