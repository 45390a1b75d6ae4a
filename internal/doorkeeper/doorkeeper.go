// Package doorkeeper lets a cache admit a key only the second time it is
// asked for, as TinyLFU's doorkeeper does: keys asked for once (a token
// used a single time) then never fill the cache, allocate for it or push
// out the keys that come back.
package doorkeeper

import "sync/atomic"

// Slots is how many keys a Table remembers at most: 8 bytes each, 512 KiB
// in all.
const Slots = 64 << 10

// Table remembers keys seen once, by a 64-bit hash of each, in a fixed
// array that allocates nothing. It is safe for concurrent use. The zero
// value is ready.
type Table struct {
	slots [Slots]atomic.Uint64
}

// Admit reports whether the key of hash h was seen before, as far as the
// table remembers, and otherwise remembers it. Two keys whose hashes share
// a slot push each other out: either is then admitted one sighting later
// than it could have been, never earlier. h should come from a seeded
// hash (hash/maphash, or a cryptographic digest), so that nobody can pick
// keys that collide.
func (t *Table) Admit(h uint64) bool {
	fp := h | 1 // never 0, the empty slot
	slot := &t.slots[(h>>1)%Slots]
	if slot.Load() == fp {
		return true
	}
	slot.Store(fp)
	return false
}
