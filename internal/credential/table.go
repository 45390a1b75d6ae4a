package credential

import (
	"hash/maphash"
	"runtime"
	"slices"
	"strings"
	"time"
	"unsafe"
)

// table holds credentials in a compact form, about 110 bytes each, outside
// the Go heap (see offHeap): a million of them take about 110 MB that the
// garbage collector neither scans nor counts when it decides how far the
// heap may grow. Rows are found by client ID through an open-addressing
// index; the rare credential with a previous secret or an allow-list is
// kept whole in extras, and client IDs not in Sapient's form (made by hand)
// in other.
//
// A table is not safe for concurrent use; Cache guards it.
type table struct {
	seed  maphash.Seed
	slots []uint32 // row+1 of each canonical client ID, 0 for none; linear probing
	other map[string]uint32

	rows  [][]row // in chunks of chunkRows, never moved
	n     uint32  // rows in use
	names [][]byte
	tail  int // bytes used in the last chunk of names

	orgs   interner
	scopes interner   // scope lists, joined by spaces
	sets   [][]string // scopes.values split, shared by every Entry
	extras map[uint32]*Entry

	mem *memory
}

// row is one credential. Times are Unix microseconds, 0 for none. It holds
// no pointers, as memory outside the Go heap must not.
type row struct {
	hash                      Hash
	id                        [clientIDBytes]byte // when canonical
	updated, revoked, expires int64
	name                      uint32 // offset of the name in names
	org, scopes               uint32
	nameLen                   uint16
	canonical                 bool
}

// hugePage is the size of a huge page on the processors Sapient runs on.
const hugePage = 2 << 20

// rowSize is unsafe.Sizeof(row{}) as an untyped constant; the arrays below
// fail to compile if it is not.
const rowSize = 88

var (
	_ [rowSize - unsafe.Sizeof(row{})]byte
	_ [unsafe.Sizeof(row{}) - rowSize]byte
)

const (
	chunkRows  = 2 * hugePage / rowSize // rows allocated at once: two huge pages
	nameChunk  = hugePage               // bytes of names allocated at once
	firstSlots = 1024                   // index size of a new table; it doubles at 3/4 full
)

func newTable() *table {
	t := &table{seed: maphash.MakeSeed(), other: map[string]uint32{}, extras: map[uint32]*Entry{}, mem: &memory{}}
	t.slots = t.mem.uint32s(firstSlots)
	// The memory goes back to the system when the table is dropped.
	runtime.AddCleanup(t, (*memory).freeAll, t.mem)
	return t
}

func (t *table) row(i uint32) *row { return &t.rows[i/chunkRows][i%chunkRows] }

// len reports how many credentials the table holds.
func (t *table) len() int { return int(t.n) }

// probe returns where key k is in the index, or the empty slot where it
// would go.
func (t *table) probe(k *[clientIDBytes]byte) (slot int, i uint32, found bool) {
	mask := len(t.slots) - 1
	for s := int(maphash.Bytes(t.seed, k[:])) & mask; ; s = (s + 1) & mask {
		v := t.slots[s]
		if v == 0 {
			return s, 0, false
		}
		if t.row(v-1).id == *k {
			return s, v - 1, true
		}
	}
}

// find returns the row of clientID.
func (t *table) find(clientID string) (uint32, bool) {
	if k, ok := clientIDKey(clientID); ok {
		_, i, found := t.probe(&k)
		return i, found
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
		// A copy: the ID looked up may share memory with a secret (both
		// come from one Authorization header), which no entry may keep.
		ClientID:  strings.Clone(clientID),
		OrgID:     t.orgs.values[r.org],
		Name:      string(t.nameBytes(r)),
		Hash:      r.hash,
		Scopes:    t.sets[r.scopes],
		Scope:     t.scopes.values[r.scopes],
		RevokedAt: fromMicros(r.revoked),
		ExpiresAt: fromMicros(r.expires),
		UpdatedAt: fromMicros(r.updated),
	}, true
}

// supersedes reports whether a version of a credential changed at
// updated (Unix microseconds), revoked or not, must be kept over e: a
// revocation is final; otherwise the later change wins, and of two
// changes at the same time the one held, unless e is a change made here.
func supersedes(updated int64, revoked bool, e *Entry, local bool) bool {
	switch u := micros(e.UpdatedAt); {
	case revoked && e.RevokedAt.IsZero():
		return true
	case updated != u:
		return updated > u
	default:
		return !local
	}
}

// holds reports whether the table's version in row i must be kept over e.
func (t *table) holds(i uint32, e *Entry, local bool) bool {
	r := t.row(i)
	revoked := r.revoked != 0
	if x := t.extras[i]; x != nil {
		revoked = !x.RevokedAt.IsZero()
	}
	return supersedes(r.updated, revoked, e, local)
}

// newer returns the table's version of e's credential if it must be kept
// over e (and is not merely as recent).
func (t *table) newer(e *Entry) (*Entry, bool) {
	i, ok := t.find(e.ClientID)
	if !ok || !t.holds(i, e, true) {
		return nil, false
	}
	return t.get(e.ClientID)
}

// put stores e unless the table's version must be kept over it (see
// supersedes; local says whether e is a change made here), and reports
// whether it stored it.
func (t *table) put(e *Entry, local bool) bool {
	i, ok := t.find(e.ClientID)
	if ok && t.holds(i, e, local) {
		return false
	}
	if !ok {
		i = t.add(e.ClientID)
	}
	r := t.row(i)
	r.updated = micros(e.UpdatedAt)
	delete(t.extras, i)
	if !e.PreviousUntil.IsZero() || len(e.Allowed) > 0 {
		t.extras[i] = e
		return true
	}
	r.hash = e.Hash
	r.revoked, r.expires = micros(e.RevokedAt), micros(e.ExpiresAt)
	r.org = t.orgs.intern(e.OrgID)
	if r.scopes = t.scopes.intern(e.Scope); int(r.scopes) == len(t.sets) {
		t.sets = append(t.sets, slices.Clone(e.Scopes))
	}
	if ok && len(e.Name) <= int(r.nameLen) {
		// A rename that fits reuses its bytes; others take new ones.
		r.nameLen = uint16(copy(t.nameBytes(r), e.Name))
	} else {
		r.name, r.nameLen = t.addName(e.Name), uint16(len(e.Name))
	}
	return true
}

// add makes a row for a client ID the table does not hold.
func (t *table) add(clientID string) uint32 {
	i := t.n
	if t.n++; int(i/chunkRows) == len(t.rows) {
		t.rows = append(t.rows, t.mem.rows(chunkRows))
	}
	r := t.row(i)
	k, canonical := clientIDKey(clientID)
	if !canonical {
		t.other[clientID] = i
		return i
	}
	r.id, r.canonical = k, true
	if inUse := int(t.n) - len(t.other); inUse*4 > len(t.slots)*3 { // the new one included
		t.grow()
	}
	s, _, _ := t.probe(&k)
	t.slots[s] = i + 1
	return i
}

// grow doubles the index.
func (t *table) grow() {
	old := t.slots
	t.slots = t.mem.uint32s(2 * len(old))
	for i := range t.n - 1 { // every row but the one being added
		if r := t.row(i); r.canonical {
			s, _, _ := t.probe(&r.id)
			t.slots[s] = i + 1
		}
	}
	t.mem.free(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(old))), 4*len(old)))
}

// addName stores a name (at most 4 × MaxNameLen bytes: it never spans two
// chunks) and returns its offset.
func (t *table) addName(name string) uint32 {
	if len(t.names) == 0 || t.tail+len(name) > nameChunk {
		t.names = append(t.names, t.mem.bytes(nameChunk))
		t.tail = 0
	}
	off := (len(t.names)-1)*nameChunk + t.tail
	t.tail += copy(t.names[len(t.names)-1][t.tail:], name)
	return uint32(off)
}

// nameBytes returns the bytes of r's name.
func (t *table) nameBytes(r *row) []byte {
	c, o := int(r.name)/nameChunk, int(r.name)%nameChunk
	return t.names[c][o : o+int(r.nameLen)]
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

// memory is what a table took from offHeap.
type memory struct{ blocks []block }

// block is one piece of memory: what the table uses, and the mapping to
// give back.
type block struct{ used, mapped []byte }

// bytes returns n zeroed bytes outside the Go heap where it can, else on
// it.
func (m *memory) bytes(n int) []byte {
	b, mapped, err := offHeap(n)
	if err != nil {
		return make([]byte, n)
	}
	m.blocks = append(m.blocks, block{b, mapped})
	return b
}

func (m *memory) rows(n int) []row {
	return unsafe.Slice((*row)(unsafe.Pointer(unsafe.SliceData(m.bytes(n*int(unsafe.Sizeof(row{})))))), n)
}

func (m *memory) uint32s(n int) []uint32 {
	return unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(m.bytes(4*n)))), n)
}

// free returns one block that bytes gave.
func (m *memory) free(b []byte) {
	for i, x := range m.blocks {
		if unsafe.SliceData(x.used) == unsafe.SliceData(b) {
			freeOffHeap(x.mapped)
			m.blocks = slices.Delete(m.blocks, i, i+1)
			return
		}
	}
}

func (m *memory) freeAll() {
	for _, b := range m.blocks {
		freeOffHeap(b.mapped)
	}
	m.blocks = nil
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
