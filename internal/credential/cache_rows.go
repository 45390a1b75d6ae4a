package credential

import (
	"slices"
	"strings"
	"time"
)

// rows holds the Cache's credentials by client ID. Nearly every credential
// is a row: index maps the 16 bytes of a client ID in Sapient's form to
// the number of its row in slab. Neither holds a pointer (a row's strings
// are offsets into names, or numbers given by the interners), so the
// garbage collector never scans them, at a million credentials as at a
// thousand. The few credentials a row cannot hold (see fits) are kept
// whole.
//
// The rows are apart from the map because a Go map's slots are most of
// its memory: with the row in the slot (88 bytes), a million credentials
// took 213 MB, against 24 to 48 MB of 20-byte slots beside 72 MB of rows
// (see docs/BENCHMARKS.md, "One credential map").
//
// rows is not safe for concurrent use; Cache guards it.
type rows struct {
	index map[[clientIDBytes]byte]uint32
	slab  [][]row  // in chunks of slabChunk rows, never moved
	used  uint32   // rows handed out
	free  []uint32 // rows given back, by a credential now kept whole
	whole map[string]*Entry

	names  names
	orgs   interner
	scopes interner   // scope lists, joined by spaces
	sets   [][]string // scopes.values split, shared by every Entry
}

// row is one credential. Times are Unix microseconds, 0 for none.
type row struct {
	hash             Hash
	version          int64
	revoked, expires int64
	name             uint32 // offset in names
	org, scopes      uint32
	nameLen          uint16
}

const slabChunk = 8192 // rows allocated at once: 576 KiB

// maxRowName is the longest name a row holds, in bytes: four times
// MaxNameLen and more, so that only a name made by hand is longer.
const maxRowName = 1 << 10

func newRows() rows {
	return rows{index: map[[clientIDBytes]byte]uint32{}, whole: map[string]*Entry{}}
}

// fits reports whether a row holds e: a client ID in Sapient's form is
// checked apart; a secret being rolled, an allow-list and a name made by
// hand beyond maxRowName are rare, and kept whole.
func fits(e *Entry) bool {
	return e.PreviousHash == (Hash{}) && e.PreviousUntil.IsZero() && len(e.Allowed) == 0 && len(e.Name) <= maxRowName
}

func (t *rows) len() int { return len(t.index) + len(t.whole) }

func (t *rows) row(i uint32) *row { return &t.slab[i/slabChunk][i%slabChunk] }

// find returns the row of clientID, if it has one.
func (t *rows) find(clientID string) (*row, bool) {
	if k, ok := clientIDKey(clientID); ok {
		if i, ok := t.index[k]; ok {
			return t.row(i), true
		}
	}
	return nil, false
}

// get returns the entry of clientID. An entry rebuilt from its row is
// written to dst, or to a new Entry when dst is nil.
func (t *rows) get(clientID string, dst *Entry) (*Entry, bool) {
	if r, ok := t.find(clientID); ok {
		if dst == nil {
			dst = new(Entry)
		}
		t.entry(clientID, r, dst)
		return dst, true
	}
	e, ok := t.whole[clientID]
	return e, ok
}

// version returns the Version of the credential held for clientID.
func (t *rows) version(clientID string) (int64, bool) {
	if r, ok := t.find(clientID); ok {
		return r.version, true
	}
	e, ok := t.whole[clientID]
	if !ok {
		return 0, false
	}
	return e.Version, true
}

// put holds e in place of whatever was held for its client ID.
func (t *rows) put(e *Entry) {
	var (
		i   uint32
		had bool
	)
	k, canonical := clientIDKey(e.ClientID)
	if canonical {
		i, had = t.index[k]
	}
	if !canonical || !fits(e) {
		if had {
			delete(t.index, k)
			t.free = append(t.free, i)
		}
		t.whole[e.ClientID] = e
		return
	}
	delete(t.whole, e.ClientID)
	if !had {
		i = t.alloc()
		t.index[k] = i
	}
	r := t.row(i)
	if !had || string(t.names.get(r.name, r.nameLen)) != e.Name { // most changes keep the name
		r.name, r.nameLen = t.names.add(e.Name), uint16(len(e.Name))
	}
	r.hash, r.version = e.Hash, e.Version
	r.revoked, r.expires = micros(e.RevokedAt), micros(e.ExpiresAt)
	r.org = t.orgs.intern(e.OrgID)
	if r.scopes = t.scopes.intern(e.Scope); int(r.scopes) == len(t.sets) {
		t.sets = append(t.sets, slices.Clone(e.Scopes))
	}
}

// alloc returns the number of a row not in use.
func (t *rows) alloc() uint32 {
	if n := len(t.free); n > 0 {
		i := t.free[n-1]
		t.free = t.free[:n-1]
		return i
	}
	if int(t.used/slabChunk) == len(t.slab) {
		t.slab = append(t.slab, make([]row, slabChunk))
	}
	t.used++
	return t.used - 1
}

// entry rebuilds the Entry of clientID from its row into e.
func (t *rows) entry(clientID string, r *row, e *Entry) {
	// The client ID is copied: the one looked up may share memory with a
	// secret (both come from one Authorization header), which no entry
	// may keep. The copy and the name share one allocation.
	var id, name string
	if r.nameLen == 0 {
		id = strings.Clone(clientID)
	} else {
		s := clientID + string(t.names.get(r.name, r.nameLen))
		id, name = s[:len(clientID)], s[len(clientID):]
	}
	*e = Entry{
		ClientID:  id,
		OrgID:     t.orgs.values[r.org],
		Name:      name,
		Hash:      r.hash,
		Scopes:    t.sets[r.scopes],
		Scope:     t.scopes.values[r.scopes],
		RevokedAt: fromMicros(r.revoked),
		ExpiresAt: fromMicros(r.expires),
		Version:   r.version,
	}
}

// names holds names back to back, in chunks that are never moved, so that
// a row holds an offset instead of a string. A name, once added, never
// changes; a renamed credential's row points to the new name, and the old
// bytes stay (renames are rare).
type names struct{ chunks [][]byte }

const nameChunk = 64 << 10 // bytes; more than maxRowName

// add stores s (at most maxRowName bytes) and returns its offset.
func (n *names) add(s string) uint32 {
	last := len(n.chunks) - 1
	if last < 0 || len(n.chunks[last])+len(s) > nameChunk {
		n.chunks = append(n.chunks, make([]byte, 0, nameChunk))
		last++
	}
	off := last*nameChunk + len(n.chunks[last])
	n.chunks[last] = append(n.chunks[last], s...)
	return uint32(off)
}

// get returns the bytes of the name at off.
func (n *names) get(off uint32, length uint16) []byte {
	c, o := int(off)/nameChunk, int(off)%nameChunk
	return n.chunks[c][o : o+int(length)]
}

// interner numbers distinct strings, so that rows hold a small integer
// instead of a string.
type interner struct {
	index  map[string]uint32
	values []string
}

func (n *interner) intern(s string) uint32 {
	if i, ok := n.index[s]; ok {
		return i
	}
	if n.index == nil {
		n.index = map[string]uint32{}
	}
	i := uint32(len(n.values))
	n.index[s] = i
	n.values = append(n.values, strings.Clone(s))
	return i
}

// clientIDKey decodes a client ID in Sapient's form (the prefix and the
// base32 of 16 bytes, exactly as NewClientID writes it) without
// allocating. Any other string is not canonical, so no two strings share
// a key.
func clientIDKey(id string) (k [clientIDBytes]byte, ok bool) {
	const n = 26 // base32 characters for 16 bytes, unpadded
	if len(id) != len(ClientIDPrefix)+n || id[:len(ClientIDPrefix)] != ClientIDPrefix {
		return k, false
	}
	var (
		acc  uint
		bits int
		j    int
	)
	for i := len(ClientIDPrefix); i < len(id); i++ {
		v := base32Value(id[i])
		if v < 0 {
			return k, false
		}
		acc = acc<<5 | uint(v)
		if bits += 5; bits >= 8 {
			bits -= 8
			k[j] = byte(acc >> bits)
			j++
		}
	}
	// The last character carries two unused bits, which must be zero.
	return k, j == len(k) && acc&(1<<bits-1) == 0
}

// base32Value is the value of c in alphabet, or -1.
func base32Value(c byte) int {
	switch {
	case c >= 'a' && c <= 'z':
		return int(c - 'a')
	case c >= '2' && c <= '7':
		return int(c-'2') + 26
	}
	return -1
}

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}
