package credential

import (
	"strings"
	"time"
)

// table holds credentials in a compact form: about 100 bytes each, in
// memory the garbage collector never scans (no pointers in the index, the
// rows or the names), so that a million credentials fit in about 100 MB
// and cost the collector nothing. The rare credential with a previous
// secret or an allow-list is kept whole in extras.
//
// A table is not safe for concurrent use; Cache guards it.
type table struct {
	ids    map[[clientIDBytes]byte]uint32 // client IDs in Sapient's form → row
	other  map[string]uint32              // any other client ID (made by hand) → row
	rows   [][]row                        // in chunks of chunkRows, so that growing never copies them
	n      uint32                         // rows in use
	names  []byte                         // every row's name, back to back
	orgs   interner
	scopes interner          // scope lists, joined by spaces
	sets   [][]string        // scopes.values split, shared by every Entry
	extras map[uint32]*Entry // rows kept whole
}

// row is one credential. Times are Unix microseconds, 0 for none.
type row struct {
	hash                      Hash
	updated, revoked, expires int64
	nameOff, nameLen          uint32
	org, scopes               uint32
}

// chunkRows is how many rows are allocated at once.
const chunkRows = 4096

func newTable(hint int) *table {
	return &table{
		ids:    make(map[[clientIDBytes]byte]uint32, hint),
		other:  map[string]uint32{},
		extras: map[uint32]*Entry{},
	}
}

// find returns the row of clientID.
func (t *table) find(clientID string) (uint32, bool) {
	if k, ok := clientIDKey(clientID); ok {
		i, ok := t.ids[k]
		return i, ok
	}
	i, ok := t.other[clientID]
	return i, ok
}

// get rebuilds the Entry of clientID.
func (t *table) get(clientID string) (*Entry, bool) {
	i, ok := t.find(clientID)
	if !ok {
		return nil, false
	}
	if e := t.extras[i]; e != nil {
		return e, true
	}
	r := t.row(i)
	return &Entry{
		ClientID:  clientID,
		OrgID:     t.orgs.values[r.org],
		Name:      string(t.names[r.nameOff : r.nameOff+r.nameLen]),
		Hash:      r.hash,
		Scopes:    t.sets[r.scopes],
		Scope:     t.scopes.values[r.scopes],
		RevokedAt: fromMicros(r.revoked),
		ExpiresAt: fromMicros(r.expires),
		UpdatedAt: fromMicros(r.updated),
	}, true
}

// put stores e unless the table holds a newer version of it, and reports
// whether it stored it.
func (t *table) put(e *Entry) bool {
	i, ok := t.find(e.ClientID)
	if ok && t.row(i).updated > micros(e.UpdatedAt) {
		return false
	}
	if !ok {
		i = t.n
		if t.n++; int(i/chunkRows) == len(t.rows) {
			t.rows = append(t.rows, make([]row, chunkRows))
		}
		if k, canonical := clientIDKey(e.ClientID); canonical {
			t.ids[k] = i
		} else {
			t.other[e.ClientID] = i
		}
	}
	r := t.row(i)
	r.updated = micros(e.UpdatedAt)
	delete(t.extras, i)
	if !e.PreviousUntil.IsZero() || len(e.Allowed) > 0 {
		*r = row{updated: r.updated}
		t.extras[i] = e
		return true
	}
	r.hash = e.Hash
	r.revoked, r.expires = micros(e.RevokedAt), micros(e.ExpiresAt)
	r.org = t.orgs.intern(e.OrgID)
	if r.scopes = t.scopes.intern(e.Scope); int(r.scopes) == len(t.sets) {
		t.sets = append(t.sets, e.Scopes)
	}
	if ok && len(e.Name) <= int(r.nameLen) {
		// A rename that fits reuses its bytes; others append.
		r.nameLen = uint32(copy(t.names[r.nameOff:], e.Name))
	} else {
		r.nameOff, r.nameLen = uint32(len(t.names)), uint32(len(e.Name))
		t.names = append(t.names, e.Name...)
	}
	return true
}

func (t *table) row(i uint32) *row { return &t.rows[i/chunkRows][i%chunkRows] }

// len reports how many credentials the table holds.
func (t *table) len() int { return int(t.n) }

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
