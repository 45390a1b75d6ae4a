package credential

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	"sapient.dev/sapient/internal/store"
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

// TestRowsHoldNoPointers: the map and the rows that hold nearly every
// credential have no pointers, so that the garbage collector never scans
// them.
func TestRowsHoldNoPointers(t *testing.T) {
	var hasPointers func(reflect.Type) bool
	hasPointers = func(t reflect.Type) bool {
		switch t.Kind() {
		case reflect.Array:
			return hasPointers(t.Elem())
		case reflect.Struct:
			for i := range t.NumField() {
				if hasPointers(t.Field(i).Type) {
					return true
				}
			}
			return false
		case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
			return false
		}
		return true
	}
	m := reflect.TypeOf(rows{}.index)
	if hasPointers(m.Key()) || hasPointers(m.Elem()) {
		t.Fatalf("%v holds pointers", m)
	}
	if r := reflect.TypeOf(row{}); hasPointers(r) {
		t.Fatalf("%v holds pointers", r)
	}
}

// TestRowsRoundTrip: what a row holds, rebuilt, is the entry that was put,
// whatever form it takes, and through renames, rolls and revocations of
// one credential beside others.
func TestRowsRoundTrip(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	newID := func() string {
		id, err := NewClientID(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	base := func(id, name string, v int64) store.Credential {
		return store.Credential{
			ClientID: id, OrgID: "org_1", Name: name, SecretHash: HashSecret("s-" + name).String(),
			Scopes: []string{"a:read", "b:write"}, ExpiresAt: t0.Add(24 * time.Hour), Version: v,
		}
	}
	tb := newRows()
	var neighbours []*Entry
	for i := range 2000 { // names over more than one chunk
		id := newID()
		if i == 0 {
			id = "sapci_aaaaaaaaaaaaaaaaaaaaaaaaaa" // the key of zeros, which no other client ID may disturb
		}
		e, err := newEntry(base(id, fmt.Sprintf("neighbour %d %s", i, strings.Repeat("x", 40)), 1))
		if err != nil {
			t.Fatal(err)
		}
		tb.put(e)
		neighbours = append(neighbours, e)
	}
	id := newID()
	tests := []struct {
		name string
		c    func() store.Credential
		row  bool // held as a row rather than whole
	}{
		{"plain", func() store.Credential { return base(id, "billing", 1) }, true},
		{"another organisation and scopes", func() store.Credential {
			c := base(id, "billing", 2)
			c.OrgID, c.Scopes = "org_2", []string{"c:read"}
			return c
		}, true},
		{"renamed longer, in other characters", func() store.Credential {
			return base(id, "Zahlungsdienst – Müller, "+strings.Repeat("é", 40), 3)
		}, true},
		{"renamed shorter", func() store.Credential { return base(id, "b", 4) }, true},
		{"no name", func() store.Credential { return base(id, "", 5) }, true},
		{"never expires", func() store.Credential {
			c := base(id, "b", 6)
			c.ExpiresAt = time.Time{}
			return c
		}, true},
		{"no scopes", func() store.Credential {
			c := base(id, "b", 7)
			c.Scopes = nil
			return c
		}, true},
		{"secret being rolled", func() store.Credential {
			c := base(id, "b", 8)
			c.PreviousSecretHash, c.PreviousSecretExpiresAt = HashSecret("old").String(), t0.Add(time.Hour)
			return c
		}, false},
		{"allow-list", func() store.Credential {
			c := base(id, "b", 9)
			c.AllowedCIDRs = []string{"192.0.2.0/24", "2001:db8::/32"}
			return c
		}, false},
		{"revoked, plain again", func() store.Credential {
			c := base(id, "b", 10)
			c.RevokedAt = t0.Add(time.Minute)
			return c
		}, true},
		{"a name made by hand, too long for a row", func() store.Credential {
			return base(id, strings.Repeat("n", maxRowName+1), 11)
		}, false},
		{"hand-made client ID", func() store.Credential { return base("c1", "hand made", 1) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := newEntry(tt.c())
			if err != nil {
				t.Fatal(err)
			}
			tb.put(want)
			got, ok := tb.get(want.ClientID, nil)
			if !ok || !reflect.DeepEqual(got, want) {
				t.Fatalf("get = %+v, %v\nwant %+v", got, ok, want)
			}
			if _, whole := tb.whole[want.ClientID]; whole == tt.row {
				t.Fatalf("held whole: %v, want %v", whole, !tt.row)
			}
			if v, ok := tb.version(want.ClientID); !ok || v != want.Version {
				t.Fatalf("version = %d, %v; want %d", v, ok, want.Version)
			}
			for _, n := range neighbours {
				if got, _ := tb.get(n.ClientID, nil); !reflect.DeepEqual(got, n) {
					t.Fatalf("neighbour changed: %+v\nwant %+v", got, n)
				}
			}
			if n := tb.len(); n != len(neighbours)+1 && n != len(neighbours)+2 {
				t.Fatalf("len = %d", n)
			}
		})
	}
	if _, ok := tb.get("sapci_bbbbbbbbbbbbbbbbbbbbbbbbbb", nil); ok {
		t.Fatal("get of an unknown ID found something")
	}
}

// TestEntryDoesNotKeepTheIDLookedUp: an entry rebuilt from a row holds a
// copy of the client ID, not the string it was looked up with, which may
// share memory with a secret.
func TestEntryDoesNotKeepTheIDLookedUp(t *testing.T) {
	for _, name := range []string{"billing", ""} {
		tb := newRows()
		id, err := NewClientID(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tb.put(&Entry{ClientID: id, Name: name, Version: 1})
		header := id + ":sapsk_secret"
		asked := header[:len(id)]
		got, _ := tb.get(asked, nil)
		if got.ClientID != id || got.Name != name {
			t.Fatalf("entry = %q %q, want %q %q", got.ClientID, got.Name, id, name)
		}
		if unsafe.StringData(got.ClientID) == unsafe.StringData(asked) {
			t.Fatalf("name %q: the entry's client ID shares memory with the string looked up", name)
		}
	}
}
