package oauth

import (
	"hash/maphash"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"sapient.dev/sapient/internal/ratelimit"
)

// Default budget of failed client authentications per client address.
const (
	DefaultFailureRate  = 20  // failures a second, refilled continuously
	DefaultFailureBurst = 100 // failures in a row before an address waits
)

// FailureLimiter limits failed client authentications per client address
// at the token, introspection and revocation endpoints, so that guessing
// secrets or client IDs (each unknown ID costs a database read) has a
// price beside the per-credential limits, which a guesser of IDs never
// meets. Each address has a token bucket that only failures spend:
// refused once it is empty, an address waits until it refills, and a
// client that authenticates correctly never spends it, however often it
// asks. IPv6 addresses are counted by their /64, the smallest network one
// subscriber is usually given.
//
// State is local to the instance. Like internal/ratelimit, its maps hold
// no pointers, so the garbage collector never scans them; their size is
// bounded by MaxAddresses. A nil *FailureLimiter limits nothing.
type FailureLimiter struct {
	rate, burst float64
	max         int // addresses per shard
	seed        maphash.Seed
	shards      [failureShards]failureShard
}

const failureShards = 16

// MaxAddresses bounds the addresses a FailureLimiter remembers.
const MaxAddresses = 1 << 17

type failureShard struct {
	mu      sync.Mutex
	buckets map[[16]byte]failureBucket
}

// failureBucket is what was left of an address's budget at last (Unix
// nanoseconds), when it was last spent.
type failureBucket struct {
	tokens float64
	last   int64
}

// NewFailureLimiter returns a limiter that allows burst failures from an
// address at once and perSec a second after that. perSec <= 0 returns nil,
// which limits nothing.
func NewFailureLimiter(perSec, burst int) *FailureLimiter {
	if perSec <= 0 {
		return nil
	}
	l := &FailureLimiter{rate: float64(perSec), burst: float64(max(burst, 1)), max: MaxAddresses / failureShards, seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].buckets = map[[16]byte]failureBucket{}
	}
	return l
}

// failureKey is the address as 16 bytes, IPv6 cut to its /64.
func failureKey(ip netip.Addr) [16]byte {
	k := ip.Unmap().As16()
	if ip.Unmap().Is6() {
		clear(k[8:])
	}
	return k
}

func (l *FailureLimiter) shard(k *[16]byte) *failureShard {
	return &l.shards[maphash.Bytes(l.seed, k[:])%failureShards]
}

// level is b's budget at t.
func (l *FailureLimiter) level(b failureBucket, t int64) float64 {
	if elapsed := time.Duration(t - b.last); elapsed > 0 { // a clock that steps back refills nothing
		return min(l.burst, b.tokens+elapsed.Seconds()*l.rate)
	}
	return b.tokens
}

// Allow reports whether a request from ip may try to authenticate at now;
// when it may not, wait is how long until it may. It spends nothing.
func (l *FailureLimiter) Allow(ip netip.Addr, now time.Time) (wait time.Duration, ok bool) {
	if l == nil {
		return 0, true
	}
	k := failureKey(ip)
	sh := l.shard(&k)
	sh.mu.Lock()
	b, found := sh.buckets[k]
	sh.mu.Unlock()
	if !found {
		return 0, true
	}
	tokens := l.level(b, now.UnixNano())
	if tokens >= 1 {
		return 0, true
	}
	return max(time.Duration((1-tokens)/l.rate*float64(time.Second)), time.Nanosecond), false
}

// Fail spends one unit of ip's budget for a failed authentication at now.
func (l *FailureLimiter) Fail(ip netip.Addr, now time.Time) {
	if l == nil {
		return
	}
	k := failureKey(ip)
	t := now.UnixNano()
	sh := l.shard(&k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	b, found := sh.buckets[k]
	if !found {
		if len(sh.buckets) >= l.max {
			l.prune(sh, t)
		}
		b = failureBucket{tokens: l.burst, last: t}
	}
	// Failures already in flight when the budget ran out may take it below
	// zero; it stops at zero, so that the wait never exceeds one failure's.
	sh.buckets[k] = failureBucket{tokens: max(l.level(b, t)-1, 0), last: t}
}

// prune makes room in a full shard: it forgets addresses whose budget has
// refilled (they are in the state a new one starts in), then, under a
// flood of distinct addresses, any, down to nine tenths. The caller holds
// sh.mu.
func (l *FailureLimiter) prune(sh *failureShard, t int64) {
	for k, b := range sh.buckets {
		if l.level(b, t) >= l.burst {
			delete(sh.buckets, k)
		}
	}
	for k := range sh.buckets { // map order is random: no address is favoured
		if len(sh.buckets) < l.max*9/10 {
			break
		}
		delete(sh.buckets, k)
	}
}

// writeTooManyFailures answers a request from an address that has spent
// its budget of failed authentications: 429 with Retry-After (RFC 6585
// §4), in the JSON of RFC 6749 §5.2, with the code the per-credential
// limit uses.
func writeTooManyFailures(w http.ResponseWriter, wait time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(ratelimit.RetryAfter(wait)))
	writeJSON(w, http.StatusTooManyRequests, errorBody{Error: ErrTooManyRequests,
		Description: "Too many failed client authentications from this address; retry after the time in Retry-After."})
}
