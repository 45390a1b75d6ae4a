package credential_test

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/credential"
)

// TestCacheLoad: after Load, every credential that is not revoked is
// served from memory, identical to what a read from the store gives,
// including a secret being rolled and an allow-list.
func TestCacheLoad(t *testing.T) {
	forEachCacheBackend(t, func(t *testing.T, f *cacheFixture) {
		ctx := t.Context()
		plain := f.create(t, access.CLI, f.acme.ID, "plain", []string{"usage:read", "shipments:read"})
		other := f.create(t, access.CLI, f.beta.ID, "other org", nil)
		rolled := f.create(t, access.CLI, f.acme.ID, "rolled", nil)
		walled := f.create(t, access.CLI, f.acme.ID, "walled", nil)
		revoked := f.create(t, access.CLI, f.acme.ID, "revoked", nil)
		f.clock.Advance(time.Second)
		newSecret, err := f.svc.Roll(ctx, access.CLI, rolled.Credential.ClientID, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Update(ctx, access.CLI, walled.Credential.ClientID,
			credential.UpdateRequest{AllowedCIDRs: []string{"192.0.2.0/24"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Revoke(ctx, access.CLI, revoked.Credential.ClientID); err != nil {
			t.Fatal(err)
		}

		n, err := f.cache.Load(ctx)
		if err != nil || n != 4 {
			t.Fatalf("Load = %d, %v; want the 4 credentials not revoked", n, err)
		}
		if _, err := f.cache.Load(ctx); err == nil {
			t.Fatal("a second Load did not fail")
		}
		fresh := credential.NewCache(f.store) // reads the store on first use
		now := f.clock.Now()
		for _, c := range []credential.Created{plain, other, rolled, walled} {
			id := c.Credential.ClientID
			got := f.lookup(t, id)
			want, err := fresh.Lookup(ctx, id, now)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("loaded entry of %s:\n%+v\nread from the store:\n%+v", c.Credential.Name, got, want)
			}
		}
		f.wantGets(t, 0)
		e := f.lookup(t, rolled.Credential.ClientID)
		if !e.CheckSecret(credential.HashSecret(rolled.Secret), now) || !e.CheckSecret(credential.HashSecret(newSecret.Secret), now) {
			t.Fatal("a loaded credential being rolled does not take both secrets")
		}
		if e := f.lookup(t, plain.Credential.ClientID); e.Scope != "shipments:read usage:read" || e.OrgID != f.acme.ID {
			t.Fatalf("loaded scopes %q, org %s", e.Scope, e.OrgID)
		}
		// A revoked credential is not loaded: its first use reads it.
		if e := f.lookup(t, revoked.Credential.ClientID); e.Active(now) {
			t.Fatal("revoked credential active")
		}
		f.wantGets(t, 1)
		if _, err := f.cache.Lookup(ctx, "sapci_aaaaaaaaaaaaaaaaaaaaaaaaaa", now); !errors.Is(err, credential.ErrNotFound) {
			t.Fatalf("unknown ID after Load: %v", err)
		}
	})
}

// TestCacheLoadKeepsChangesMadeMeanwhile: Load reads rows that may be
// older than changes the cache hears of while it runs, here and from other
// instances; the newer versions win, even once evicted from the entries
// used lately.
func TestCacheLoadKeepsChangesMadeMeanwhile(t *testing.T) {
	forEachCacheBackend(t, func(t *testing.T, f *cacheFixture) {
		ctx := t.Context()
		f.svc.Changed = f.cache.Put // as server.New wires it
		here := f.create(t, access.CLI, f.acme.ID, "revoked here", nil).Credential.ClientID
		there := f.create(t, access.CLI, f.acme.ID, "revoked elsewhere", nil).Credential.ClientID
		var ids []string
		for i := range 10 {
			ids = append(ids, f.create(t, access.CLI, f.acme.ID, fmt.Sprintf("n%d", i), nil).Credential.ClientID)
		}
		f.counting.duringScan = func() {
			f.clock.Advance(time.Second)
			since := f.clock.Now().Add(-time.Second)
			if _, err := f.svc.Revoke(ctx, access.CLI, here); err != nil {
				t.Fatal(err)
			}
			if _, err := f.other.Revoke(ctx, access.CLI, there); err != nil {
				t.Fatal(err)
			}
			if err := f.cache.Sync(ctx, since); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := f.cache.Load(ctx); err != nil {
			t.Fatal(err)
		}
		now := f.clock.Now()
		for _, drop := range []bool{false, true} {
			if drop {
				credential.DropHot(f.cache) // as if evicted: from the table now
			}
			for _, id := range ids {
				if e := f.lookup(t, id); !e.Active(now) || e.ClientID != id {
					t.Fatalf("entry %s: %+v", id, e)
				}
			}
			for _, id := range []string{here, there} {
				if e := f.lookup(t, id); e.Active(now) {
					t.Fatalf("%s: revoked while loading, active after (evicted: %v)", id, drop)
				}
			}
		}
		f.wantGets(t, 0)
	})
}

// TestCacheAfterLoad: once loaded, Sync applies every change, even to
// credentials never used here, and a revocation made here holds after
// eviction; nothing is read from the store one by one.
func TestCacheAfterLoad(t *testing.T) {
	forEachCacheBackend(t, func(t *testing.T, f *cacheFixture) {
		ctx := t.Context()
		f.svc.Changed = f.cache.Put
		unused := f.create(t, access.CLI, f.acme.ID, "never used here", nil).Credential.ClientID
		used := f.create(t, access.CLI, f.acme.ID, "used", nil).Credential.ClientID
		if _, err := f.cache.Load(ctx); err != nil {
			t.Fatal(err)
		}
		f.lookup(t, used)

		f.clock.Advance(time.Minute)
		since := f.clock.Now().Add(-5 * time.Second)
		if _, err := f.other.Revoke(ctx, access.CLI, unused); err != nil {
			t.Fatal(err)
		}
		createdElsewhere, create := f.createPredicted(t, f.other, "created elsewhere")
		create()
		if err := f.cache.Sync(ctx, since); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Revoke(ctx, access.CLI, used); err != nil {
			t.Fatal(err)
		}
		credential.DropHot(f.cache) // as if evicted: from the table now
		now := f.clock.Now()
		if e := f.lookup(t, unused); e.Active(now) {
			t.Fatal("revocation elsewhere of a credential never used here not applied by Sync")
		}
		if e := f.lookup(t, used); e.Active(now) {
			t.Fatal("revocation here lost after eviction")
		}
		if e := f.lookup(t, createdElsewhere); !e.Active(now) {
			t.Fatal("credential created elsewhere not active")
		}
		f.wantGets(t, 0)
		if n := f.cache.Len(); n != 3 {
			t.Fatalf("Len = %d, want the 3 credentials", n)
		}
	})
}

// TestCacheEvicts: the entries kept ready to use stay within their bound;
// an evicted one is read again from the store, or rebuilt from the table
// once loaded.
func TestCacheEvicts(t *testing.T) {
	forEachCacheBackend(t, func(t *testing.T, f *cacheFixture) {
		const max = 8
		credential.SetHotMax(f.cache, max)
		var ids []string
		for i := range 30 {
			ids = append(ids, f.create(t, access.CLI, f.acme.ID, fmt.Sprintf("n%d", i), nil).Credential.ClientID)
		}
		lookupAll := func() {
			t.Helper()
			for _, id := range ids {
				if e := f.lookup(t, id); e.ClientID != id || !e.Active(f.clock.Now()) {
					t.Fatalf("entry %s: %+v", id, e)
				}
				if n := credential.HotLen(f.cache); n > max {
					t.Fatalf("%d entries kept, more than %d", n, max)
				}
			}
		}
		lookupAll()
		lookupAll()
		if got := f.counting.gets.Load(); got <= int64(len(ids)) {
			t.Fatalf("%d reads for %d credentials looked up twice through %d entries: nothing was evicted", got, len(ids), max)
		}
		if _, err := f.cache.Load(t.Context()); err != nil {
			t.Fatal(err)
		}
		before := f.counting.gets.Load()
		lookupAll()
		lookupAll()
		f.wantGets(t, before)
	})
}

// TestCacheLoadConcurrent: lookups, revocations and a sync run while the
// table loads; afterwards, from the entries used lately and from the table
// alike, every credential is in its latest state. Run it with -race.
func TestCacheLoadConcurrent(t *testing.T) {
	forEachCacheBackend(t, func(t *testing.T, f *cacheFixture) {
		ctx := t.Context()
		f.svc.Changed = f.cache.Put
		credential.SetHotMax(f.cache, 16)
		var ids []string
		for i := range 120 {
			ids = append(ids, f.create(t, access.CLI, f.acme.ID, fmt.Sprintf("c%d", i), nil).Credential.ClientID)
		}
		revoked := map[string]bool{}
		for _, id := range ids[:30] {
			revoked[id] = true
		}
		f.clock.Advance(time.Second)
		now := f.clock.Now()
		done := make(chan struct{})
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				for i := g; ; i += 7 {
					select {
					case <-done:
						return
					default:
					}
					id := ids[i%len(ids)]
					e, err := f.cache.Lookup(ctx, id, now)
					if err != nil || e.ClientID != id {
						t.Errorf("Lookup(%s) = %+v, %v", id, e, err)
						return
					}
				}
			})
		}
		wg.Go(func() {
			for id := range revoked {
				if _, err := f.svc.Revoke(ctx, access.CLI, id); err != nil {
					t.Error(err)
				}
			}
		})
		if _, err := f.cache.Load(ctx); err != nil {
			t.Fatal(err)
		}
		if err := f.cache.Sync(ctx, now.Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
		close(done)
		wg.Wait()
		for _, drop := range []bool{false, true} {
			if drop {
				credential.DropHot(f.cache)
			}
			for _, id := range ids {
				if e := f.lookup(t, id); e.Active(now) == revoked[id] {
					t.Fatalf("%s: active %v, revoked %v (from the table: %v)", id, e.Active(now), revoked[id], drop)
				}
			}
		}
	})
}

// TestCachePollNeverUndoesRevocation: a poll that read a credential just
// before it was revoked here, at the same instant, does not bring it back,
// with or without the table; nor does any later version without the
// revocation.
func TestCachePollNeverUndoesRevocation(t *testing.T) {
	for _, load := range []bool{false, true} {
		t.Run(fmt.Sprintf("table=%v", load), func(t *testing.T) {
			forEachCacheBackend(t, func(t *testing.T, f *cacheFixture) {
				ctx := t.Context()
				f.svc.Changed = f.cache.Put
				c := f.create(t, access.CLI, f.acme.ID, "billing", nil).Credential
				if load {
					if _, err := f.cache.Load(ctx); err != nil {
						t.Fatal(err)
					}
				}
				f.lookup(t, c.ClientID)
				now := f.clock.Now() // frozen: the revocation has the same time as the creation
				f.counting.duringPoll = func() {
					f.counting.duringPoll = nil
					if _, err := f.svc.Revoke(ctx, access.CLI, c.ClientID); err != nil {
						t.Fatal(err)
					}
				}
				if err := f.cache.Sync(ctx, now.Add(-time.Minute)); err != nil {
					t.Fatal(err)
				}
				if e := f.lookup(t, c.ClientID); e.Active(now) {
					t.Fatalf("a poll older than a revocation made here undid it (table: %v)", load)
				}
				// Nor does a later version that lacks the revocation.
				later := c
				later.UpdatedAt = now.Add(time.Hour)
				f.cache.Put(later)
				credential.DropHot(f.cache)
				if e := f.lookup(t, c.ClientID); e.Active(now) {
					t.Fatalf("a later version without the revocation undid it (table: %v)", load)
				}
			})
		})
	}
}

// TestCacheAdmitsOnSecondUse: with every credential in the table, one
// asked for once is answered from the table and not kept among the entries
// used lately; asked for again, it is kept, and answered as before. A
// revocation reaches it either way.
func TestCacheAdmitsOnSecondUse(t *testing.T) {
	forEachCacheBackend(t, func(t *testing.T, f *cacheFixture) {
		ctx := t.Context()
		once := f.create(t, access.CLI, f.acme.ID, "once", nil)
		twice := f.create(t, access.CLI, f.acme.ID, "twice", nil)
		if _, err := f.cache.Load(ctx); err != nil {
			t.Fatal(err)
		}
		credential.DropHot(f.cache)
		first := f.lookup(t, twice.Credential.ClientID)
		f.lookup(t, once.Credential.ClientID)
		if n := credential.HotLen(f.cache); n != 0 {
			t.Fatalf("%d entries kept after a first use each, want 0", n)
		}
		if second := f.lookup(t, twice.Credential.ClientID); !reflect.DeepEqual(first, second) {
			t.Fatalf("second use answers %+v, first %+v", second, first)
		}
		if n := credential.HotLen(f.cache); n != 1 {
			t.Fatalf("%d entries kept after a second use, want 1", n)
		}
		f.wantGets(t, 0)
		f.svc.Changed = f.cache.Put // as server.New wires it
		f.clock.Advance(time.Second)
		for _, c := range []credential.Created{once, twice} {
			if _, err := f.svc.Revoke(ctx, access.CLI, c.Credential.ClientID); err != nil {
				t.Fatal(err)
			}
			if e := f.lookup(t, c.Credential.ClientID); e.Active(f.clock.Now()) {
				t.Fatalf("%s, revoked, is still active", c.Credential.Name)
			}
		}
	})
}
