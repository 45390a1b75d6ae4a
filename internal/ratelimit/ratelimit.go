// Package ratelimit limits requests per key (a client ID) with token
// buckets: Limiter, locally to one instance, or Shared, across every
// instance through Redis. With Limiter each instance enforces the limit on
// its own, so a client spread over N instances can reach up to N times
// the limit.
package ratelimit

import (
	"hash/maphash"
	"math"
	"sync"
	"time"
)

const shards = 32

// Allower is what the token endpoint and the API ask before serving a
// credential: a Limiter, or a Shared limiter.
type Allower interface {
	// Allow takes one request from id's budget of perSec requests per
	// second (zero or less: unlimited); when refused it says how long
	// until one is available.
	Allow(id string, perSec int, now time.Time) (bool, time.Duration)
	// Prune forgets what this instance holds for keys idle since before.
	Prune(before time.Time)
}

var (
	_ Allower = (*Limiter)(nil)
	_ Allower = (*Shared)(nil)
)

// Limiter holds one token bucket per key. The zero value is not usable;
// call New.
//
// Its maps hold no pointers (a key is a 128-bit hash of the client ID, a
// bucket three numbers), so the garbage collector never scans them: with
// a million credentials, tens of thousands of buckets are live at any
// moment, and as pointers (a key string, a bucket, a rate.Limiter each)
// marking them was a cost the hot path paid on every collection.
type Limiter struct {
	seeds  [2]maphash.Seed
	shards [shards]shard
}

type shard struct {
	mu      sync.Mutex
	buckets map[key]bucket
}

// key is a client ID's hash under two seeds. Two client IDs would share a
// bucket only if both 64-bit halves collided, which the per-process random
// seeds make as unlikely for an attacker as by chance.
type key [2]uint64

// bucket is a token bucket that refills at perSec per second up to
// perSec tokens; last is when a request last took a token (Unix
// nanoseconds), and tokens is what was left then.
type bucket struct {
	tokens float64
	last   int64
	perSec int
}

// New returns an empty limiter.
func New() *Limiter {
	l := &Limiter{seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}}
	for i := range l.shards {
		l.shards[i].buckets = map[key]bucket{}
	}
	return l
}

// Allow takes one token from key's bucket, which refills at perSec per
// second and holds perSec tokens (one second of burst). A limit of zero or
// less means unlimited. When refused it returns how long until a token is
// available.
func (l *Limiter) Allow(id string, perSec int, now time.Time) (bool, time.Duration) {
	if perSec <= 0 {
		return true, 0
	}
	k := key{maphash.String(l.seeds[0], id), maphash.String(l.seeds[1], id)}
	t := now.UnixNano()
	sh := &l.shards[k[0]%shards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	b, ok := sh.buckets[k]
	if !ok || b.perSec != perSec {
		b = bucket{tokens: float64(perSec), last: t, perSec: perSec}
	}
	// The arithmetic of golang.org/x/time/rate, step for step, so that the
	// answers are the same (a test holds it to that).
	tokens := b.tokens
	if elapsed := time.Duration(t - b.last); elapsed > 0 { // a clock that steps back refills nothing
		tokens = min(float64(perSec), tokens+elapsed.Seconds()*float64(perSec))
	}
	if tokens--; tokens < 0 {
		// Short of a token by more than a nanosecond's refill: refused,
		// and the bucket is left as it was, so that last is when it last
		// changed, which is what Prune relies on.
		if wait := time.Duration(-tokens / float64(perSec) * float64(time.Second)); wait > 0 {
			return false, wait
		}
	}
	sh.buckets[k] = bucket{tokens: tokens, last: t, perSec: perSec}
	return true, 0
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
	cutoff := before.UnixNano()
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		for k, b := range sh.buckets {
			if b.last < cutoff {
				delete(sh.buckets, k)
			}
		}
		sh.mu.Unlock()
	}
}
