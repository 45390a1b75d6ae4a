package credential

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"net/netip"
	"reflect"
	"testing"
	"time"
)

func TestClientIDKey(t *testing.T) {
	for range 100 {
		var raw [clientIDBytes]byte
		rand.Read(raw[:])
		id, err := NewClientID(bytes.NewReader(raw[:]))
		if err != nil {
			t.Fatal(err)
		}
		k, ok := clientIDKey(id)
		if !ok || k != raw {
			t.Fatalf("clientIDKey(%s) = %x, %v; want %x, true", id, k, ok, raw)
		}
		// Every other string is refused, so no two strings share a key:
		// the unused low bits of the last character set, another
		// character, another case, another length or prefix.
		last := id[len(id)-1]
		for _, bad := range []string{
			id[:len(id)-1] + string(alphabet[(bytes.IndexByte([]byte(alphabet), last)|1)]),
			id[:len(id)-1] + "1",
			id[:len(id)-1] + "A",
			id[:len(id)-1],
			id + "a",
			"sapcx_" + id[len(ClientIDPrefix):],
			"",
		} {
			if bad == id {
				continue
			}
			if k, ok := clientIDKey(bad); ok {
				t.Fatalf("clientIDKey(%q) = %x, true; want not canonical", bad, k)
			}
		}
	}
}

func testEntry(id, name string, updated time.Time) *Entry {
	return &Entry{
		ClientID: id, OrgID: "org_1", Name: name, Hash: HashSecret("s-" + name),
		Scopes: []string{"a:read", "b:write"}, Scope: "a:read b:write",
		ExpiresAt: updated.Add(24 * time.Hour).UTC(), UpdatedAt: updated.UTC(),
	}
}

func TestTablePutGet(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	tb := newTable()
	ids := make([]string, 3*chunkRows+7) // more than one chunk of rows
	for i := range ids {
		id, err := NewClientID(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
		if !tb.put(testEntry(id, fmt.Sprintf("n%d", i), t0), false) {
			t.Fatal("put of a new entry refused")
		}
	}
	// A hand-made ID, as tests and old installations have.
	ids = append(ids, "c1")
	tb.put(testEntry("c1", "hand made", t0), false)
	if tb.len() != len(ids) {
		t.Fatalf("len = %d, want %d", tb.len(), len(ids))
	}
	for i, id := range ids {
		want := testEntry(id, fmt.Sprintf("n%d", i), t0)
		if id == "c1" {
			want = testEntry(id, "hand made", t0)
		}
		got, ok := tb.get(id)
		if !ok || !reflect.DeepEqual(got, want) {
			t.Fatalf("get(%s) = %+v, %v\nwant %+v", id, got, ok, want)
		}
	}
	if _, ok := tb.get("sapci_aaaaaaaaaaaaaaaaaaaaaaaaaa"); ok {
		t.Fatal("get of an unknown ID found something")
	}

	// Newer versions replace older ones; older ones never replace newer.
	id := ids[5]
	renamed := testEntry(id, "n5 renamed to something longer", t0.Add(time.Second))
	renamed.Scopes, renamed.Scope = []string{"c:read"}, "c:read"
	if !tb.put(renamed, false) {
		t.Fatal("newer version refused")
	}
	if tb.put(testEntry(id, "n5", t0), true) {
		t.Fatal("older version stored over a newer one")
	}
	if got, _ := tb.get(id); !reflect.DeepEqual(got, renamed) {
		t.Fatalf("after update: %+v\nwant %+v", got, renamed)
	}
	// Of two versions at the same time, the one held stays, unless the
	// other is a change made here.
	tie := testEntry(id, "tie", t0.Add(time.Second))
	if tb.put(tie, false) {
		t.Fatal("a polled version at the same time replaced the one held")
	}
	if !tb.put(tie, true) {
		t.Fatal("a change made here at the same time did not replace the one held")
	}
	// A revocation is final: no version without it replaces it, however
	// late.
	revoked := testEntry(id, "revoked", t0.Add(2*time.Second))
	revoked.RevokedAt = t0.Add(2 * time.Second).UTC()
	tb.put(revoked, false)
	if tb.put(testEntry(id, "later, active", t0.Add(time.Hour)), true) {
		t.Fatal("an active version replaced a revoked one")
	}
	// A shorter name reuses the bytes without touching a neighbour.
	short := testEntry(id, "x", t0.Add(3*time.Second))
	short.RevokedAt = revoked.RevokedAt
	tb.put(short, false)
	if got, _ := tb.get(id); got.Name != "x" {
		t.Fatalf("name = %q, want x", got.Name)
	}
	if got, _ := tb.get(ids[6]); got.Name != "n6" {
		t.Fatalf("neighbour's name = %q, want n6", got.Name)
	}

	// A previous secret or an allow-list is kept whole, and dropped again
	// when a newer version has neither.
	rolled := testEntry(id, "rolled", t0.Add(4*time.Second))
	rolled.RevokedAt = revoked.RevokedAt
	rolled.PreviousHash, rolled.PreviousUntil = HashSecret("old"), t0.Add(time.Hour).UTC()
	rolled.Allowed = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	tb.put(rolled, false)
	if got, _ := tb.get(id); got != rolled {
		t.Fatalf("rolled entry = %+v, want the entry itself", got)
	}
	plain := testEntry(id, "plain again", t0.Add(5*time.Second))
	plain.RevokedAt = revoked.RevokedAt
	tb.put(plain, false)
	if got, _ := tb.get(id); !reflect.DeepEqual(got, plain) || len(tb.extras) != 0 {
		t.Fatalf("after the roll ended: %+v (extras %d)", got, len(tb.extras))
	}
	if tb.len() != len(ids) {
		t.Fatalf("len = %d after updates, want %d", tb.len(), len(ids))
	}
}

// BenchmarkTableGet is the first sight of a credential once every
// credential is in memory: find its row among a million and rebuild its
// Entry.
func BenchmarkTableGet(b *testing.B) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tb := newTable()
	ids := make([]string, 1_000_000)
	for i := range ids {
		id, err := NewClientID(rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = id
		tb.put(testEntry(id, fmt.Sprintf("credential %d", i), t0), false)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, ok := tb.get(ids[i%len(ids)]); !ok {
			b.Fatal("not found")
		}
		i += 7919 // a prime: scattered over the table
	}
}

// TestKeepAfterEvictedChange: a read or a poll that began before a change
// made here, and ends after the change was evicted from the entries used
// lately, never leaves the older version in them.
func TestKeepAfterEvictedChange(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	id, err := NewClientID(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	active := testEntry(id, "x", t0)
	revoked := testEntry(id, "x", t0.Add(time.Second))
	revoked.RevokedAt = t0.Add(time.Second)
	now := t0.Add(2 * time.Second)
	for _, from := range []source{fromStore, fromPoll} {
		for _, withTable := range []bool{false, true} {
			c := &Cache{entries: map[string]*Entry{}, missing: map[string]time.Time{}, hotMax: hotMax}
			if withTable {
				c.table = newTable()
				c.table.put(active, false)
			}
			seq := c.changes // the read begins, and reads the active version
			if from == fromPoll {
				seq = c.local
			}
			c.keep(revoked, fromPut, 0)
			clear(c.entries) // the change is evicted before the read ends
			got := c.keep(active, from, seq)
			kept := c.entries[id]
			switch {
			case withTable && (got.Active(now) || kept == nil || kept.Active(now)):
				t.Errorf("source %d, with the table: answered active %v, kept %+v; want the revoked version from the table", from, got.Active(now), kept)
			case !withTable && kept != nil:
				t.Errorf("source %d, without the table: kept %+v after a change it may predate", from, kept)
			}
		}
	}
}
