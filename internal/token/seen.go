package token

import (
	"crypto/sha256"
	"encoding/binary"
	"sync"

	"sapient.dev/sapient/internal/doorkeeper"
)

// seenGeneration bounds the cache of verified tokens: two generations of
// this many entries, about 300 bytes each (a digest and the decoded
// claims), so at most 20 MB however many tokens are presented.
const seenGeneration = 32 << 10

// seenToken is what checking a token's signature established: its claims
// and the key that signed it. It says nothing about revocation or expiry,
// which are checked again on every use.
type seenToken struct {
	claims Claims
	kid    string
}

// seenCache remembers tokens whose signature verified, by the SHA-256 of
// the whole token, so that a client that presents the same token again (as
// clients do until it expires) costs a hash and a map look-up instead of
// a signature verification. It keeps two generations: when the current
// one is full it becomes the previous one and the one before is dropped.
//
// A token is kept from its second verification on (once, a doorkeeper,
// remembers the first), so that tokens used a single time (clients that
// fetch a token for every call) neither allocate an entry nor push out the
// tokens that clients reuse. A reused token pays for one more verification
// in its lifetime.
type seenCache struct {
	mu   sync.RWMutex
	cur  map[[sha256.Size]byte]*seenToken
	prev map[[sha256.Size]byte]*seenToken
	once doorkeeper.Table
}

// admit reports whether the token of key was verified before, as far as
// the doorkeeper remembers, and otherwise remembers it.
func (c *seenCache) admit(key *[sha256.Size]byte) bool {
	return c.once.Admit(binary.LittleEndian.Uint64(key[:8]))
}

func (c *seenCache) get(key *[sha256.Size]byte) *seenToken {
	c.mu.RLock()
	t, inCur := c.cur[*key]
	if !inCur {
		t = c.prev[*key]
	}
	c.mu.RUnlock()
	if t != nil && !inCur {
		c.put(key, t) // still in use: keep it
	}
	return t
}

func (c *seenCache) put(key *[sha256.Size]byte, t *seenToken) {
	c.mu.Lock()
	switch {
	case c.cur == nil:
		c.cur = make(map[[sha256.Size]byte]*seenToken, 1024)
	case len(c.cur) >= seenGeneration:
		// Full: the next generation will fill too, so make it its size
		// at once rather than growing it step by step.
		c.prev, c.cur = c.cur, make(map[[sha256.Size]byte]*seenToken, seenGeneration)
	}
	c.cur[*key] = t
	c.mu.Unlock()
}
