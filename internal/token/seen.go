package token

import (
	"hash/maphash"
	"sync"

	"sapient.dev/sapient/internal/doorkeeper"
)

// seenGeneration bounds the cache of verified tokens: two generations of
// this many entries, about a kilobyte each (the token and its decoded
// claims), so at most 32 MB however many tokens are presented.
const seenGeneration = 16 << 10

// seenShards is how many parts the cache is split into, each with its own
// lock, so that the cores checking tokens at once seldom share one.
const seenShards = 16

// seenToken is what checking a token's signature established: its claims
// and the key that signed it. It says nothing about revocation or expiry,
// which are checked again on every use.
type seenToken struct {
	claims Claims
	kid    string
}

// seenCache remembers tokens whose signature verified, keyed by the whole
// token, so that a client that presents the same token again (as clients
// do until it expires) costs a map look-up (a seeded hash of the token and
// a comparison of every byte of it) instead of a signature verification.
// Each of its shards keeps two generations: when the current one is full
// it becomes the previous one and the one before is dropped.
//
// A token is kept from its second verification on (once, a doorkeeper,
// remembers the first), so that tokens used a single time (clients that
// fetch a token for every call) neither allocate an entry nor push out the
// tokens that clients reuse. A reused token pays for one more verification
// in its lifetime.
type seenCache struct {
	shards [seenShards]seenShard
	once   doorkeeper.Table
	seed   struct {
		sync.Once
		maphash.Seed
	}
}

// seenShard is one part of the cache, padded to its own cache lines.
type seenShard struct {
	mu   sync.RWMutex
	cur  map[string]*seenToken
	prev map[string]*seenToken
	_    [64]byte
}

// shard returns the shard of raw, chosen by its last character: a
// character of the signature, which differs from token to token. Someone
// who picks their tokens can fill one shard, not see another's.
func (c *seenCache) shard(raw string) *seenShard {
	return &c.shards[raw[len(raw)-1]%seenShards]
}

// admit reports whether the token raw was verified before, as far as the
// doorkeeper remembers, and otherwise remembers it.
func (c *seenCache) admit(raw string) bool {
	c.seed.Do(func() { c.seed.Seed = maphash.MakeSeed() })
	return c.once.Admit(maphash.String(c.seed.Seed, raw))
}

func (c *seenCache) get(raw string) *seenToken {
	if raw == "" {
		return nil
	}
	sh := c.shard(raw)
	sh.mu.RLock()
	t, inCur := sh.cur[raw]
	if !inCur {
		t = sh.prev[raw]
	}
	sh.mu.RUnlock()
	if t != nil && !inCur {
		c.put(raw, t) // still in use: keep it
	}
	return t
}

func (c *seenCache) put(raw string, t *seenToken) {
	const size = seenGeneration / seenShards
	sh := c.shard(raw)
	sh.mu.Lock()
	switch {
	case sh.cur == nil:
		sh.cur = make(map[string]*seenToken, 64)
	case len(sh.cur) >= size:
		// Full: the next generation will fill too, so make it its size
		// at once rather than growing it step by step.
		sh.prev, sh.cur = sh.cur, make(map[string]*seenToken, size)
	}
	sh.cur[raw] = t
	sh.mu.Unlock()
}
