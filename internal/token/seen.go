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
// a comparison of every byte of it) instead of a signature verification. It keeps two generations: when the current
// one is full it becomes the previous one and the one before is dropped.
//
// A token is kept from its second verification on (once, a doorkeeper,
// remembers the first), so that tokens used a single time (clients that
// fetch a token for every call) neither allocate an entry nor push out the
// tokens that clients reuse. A reused token pays for one more verification
// in its lifetime.
type seenCache struct {
	mu   sync.RWMutex
	cur  map[string]*seenToken
	prev map[string]*seenToken
	once doorkeeper.Table
	seed struct {
		sync.Once
		maphash.Seed
	}
}

// admit reports whether the token of key was verified before, as far as
// the doorkeeper remembers, and otherwise remembers it.
func (c *seenCache) admit(raw string) bool {
	c.seed.Do(func() { c.seed.Seed = maphash.MakeSeed() })
	return c.once.Admit(maphash.String(c.seed.Seed, raw))
}

func (c *seenCache) get(raw string) *seenToken {
	c.mu.RLock()
	t, inCur := c.cur[raw]
	if !inCur {
		t = c.prev[raw]
	}
	c.mu.RUnlock()
	if t != nil && !inCur {
		c.put(raw, t) // still in use: keep it
	}
	return t
}

func (c *seenCache) put(raw string, t *seenToken) {
	c.mu.Lock()
	switch {
	case c.cur == nil:
		c.cur = make(map[string]*seenToken, 1024)
	case len(c.cur) >= seenGeneration:
		// Full: the next generation will fill too, so make it its size
		// at once rather than growing it step by step.
		c.prev, c.cur = c.cur, make(map[string]*seenToken, seenGeneration)
	}
	c.cur[raw] = t
	c.mu.Unlock()
}
