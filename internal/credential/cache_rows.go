package credential

import (
	"slices"
	"strings"
	"time"
)

// rows holds the Cache's credentials by client ID. Nearly every credential
// is a row in compact: a map keyed by the 16 bytes of a client ID in
// Sapient's form, whose rows hold no pointers (strings are offsets into
// names, or numbers given by the interners), so that the garbage
// collector never scans it, at a million credentials as at a thousand.
// The few that a row cannot hold (see fits) are kept whole.
//
// rows is not safe for concurrent use; Cache guards it.
type rows struct {
	compact map[[clientIDBytes]byte]row
	whole   map[string]*Entry

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

// maxRowName is the longest name a row holds, in bytes: four times
// MaxNameLen and more, so that only a name made by hand is longer.
const maxRowName = 1 << 10

func newRows() rows {
	return rows{compact: map[[clientIDBytes]byte]row{}, whole: map[string]*Entry{}}
}

// fits reports whether a row holds e: a client ID in Sapient's form is
// checked apart; a secret being rolled, an allow-list and a name made by
// hand beyond maxRowName are rare, and kept whole.
func fits(e *Entry) bool {
	return e.PreviousHash == (Hash{}) && e.PreviousUntil.IsZero() && len(e.Allowed) == 0 && len(e.Name) <= maxRowName
}

func (t *rows) len() int { return len(t.compact) + len(t.whole) }

// get returns the entry of clientID.
func (t *rows) get(clientID string) (*Entry, bool) {
	if k, ok := clientIDKey(clientID); ok {
		if r, ok := t.compact[k]; ok {
			return t.entry(clientID, &r), true
		}
	}
	e, ok := t.whole[clientID]
	return e, ok
}

// version returns the Version of the credential held for clientID.
func (t *rows) version(clientID string) (int64, bool) {
	if k, ok := clientIDKey(clientID); ok {
		if r, ok := t.compact[k]; ok {
			return r.version, true
		}
	}
	e, ok := t.whole[clientID]
	if !ok {
		return 0, false
	}
	return e.Version, true
}

// put holds e in place of whatever was held for its client ID.
func (t *rows) put(e *Entry) {
	k, canonical := clientIDKey(e.ClientID)
	if !canonical || !fits(e) {
		if canonical {
			delete(t.compact, k)
		}
		t.whole[e.ClientID] = e
		return
	}
	delete(t.whole, e.ClientID)
	r := row{
		hash: e.Hash, version: e.Version, revoked: micros(e.RevokedAt), expires: micros(e.ExpiresAt),
		org: t.orgs.intern(e.OrgID), scopes: t.scopes.intern(e.Scope),
	}
	if int(r.scopes) == len(t.sets) {
		t.sets = append(t.sets, slices.Clone(e.Scopes))
	}
	if old, ok := t.compact[k]; ok && string(t.names.get(old.name, old.nameLen)) == e.Name {
		r.name, r.nameLen = old.name, old.nameLen // most changes keep the name
	} else {
		r.name, r.nameLen = t.names.add(e.Name), uint16(len(e.Name))
	}
	t.compact[k] = r
}

// entry rebuilds the Entry of clientID from its row.
func (t *rows) entry(clientID string, r *row) *Entry {
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
	return &Entry{
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
