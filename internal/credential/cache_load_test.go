package credential_test

import (
	"errors"
	"fmt"
	"reflect"
	"runtime"
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
		now := f.clock.Now()
		for _, c := range []credential.Created{plain, other, rolled, walled} {
			id := c.Credential.ClientID
			got := f.lookup(t, id)
			sc, err := f.store.GetCredential(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			want, err := credential.NewEntry(sc)
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
		if n := f.cache.Len(); n != 5 {
			t.Fatalf("Len = %d, want 5", n)
		}
	})
}

// TestCacheLoadKeepsChangesMadeMeanwhile: Load reads rows that may be
// older than changes the cache hears of while it runs, made here and
// elsewhere; the newer versions stay.
func TestCacheLoadKeepsChangesMadeMeanwhile(t *testing.T) {
	forEachCacheBackend(t, func(t *testing.T, f *cacheFixture) {
		ctx := t.Context()
		f.putChanges()
		here := f.create(t, access.CLI, f.acme.ID, "revoked here", nil).Credential.ClientID
		there := f.create(t, access.CLI, f.acme.ID, "revoked elsewhere", nil).Credential.ClientID
		var ids []string
		for i := range 10 {
			ids = append(ids, f.create(t, access.CLI, f.acme.ID, fmt.Sprintf("n%d", i), nil).Credential.ClientID)
		}
		f.counting.duringScan = func() {
			f.clock.Advance(time.Second)
			if _, err := f.svc.Revoke(ctx, access.CLI, here); err != nil {
				t.Fatal(err)
			}
			c, err := f.other.Revoke(ctx, access.CLI, there)
			if err != nil {
				t.Fatal(err)
			}
			f.cache.Put(c) // as the change log's reader does
		}
		if _, err := f.cache.Load(ctx); err != nil {
			t.Fatal(err)
		}
		now := f.clock.Now()
		for _, id := range ids {
			if e := f.lookup(t, id); !e.Active(now) || e.ClientID != id {
				t.Fatalf("entry %s: %+v", id, e)
			}
		}
		for _, id := range []string{here, there} {
			if e := f.lookup(t, id); e.Active(now) {
				t.Fatalf("%s: revoked while loading, active after", id)
			}
		}
		f.wantGets(t, 0)
	})
}

// TestCacheLoadConcurrent: lookups and revocations run while the cache
// loads; afterwards every credential is in its latest state. Run it with
// -race.
func TestCacheLoadConcurrent(t *testing.T) {
	forEachCacheBackend(t, func(t *testing.T, f *cacheFixture) {
		ctx := t.Context()
		f.putChanges()
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
		// Lookups on every processor but one, which the revocations'
		// queries need: busy processors look at the network only every
		// 10 ms.
		for g := range max(1, runtime.GOMAXPROCS(0)-1) {
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
		var revoking sync.WaitGroup
		revoking.Go(func() {
			for id := range revoked {
				if _, err := f.svc.Revoke(ctx, access.CLI, id); err != nil {
					t.Error(err)
				}
			}
		})
		if _, err := f.cache.Load(ctx); err != nil {
			t.Fatal(err)
		}
		revoking.Wait()
		close(done)
		wg.Wait()
		for _, id := range ids {
			if e := f.lookup(t, id); e.Active(now) == revoked[id] {
				t.Fatalf("%s: active %v, revoked %v", id, e.Active(now), revoked[id])
			}
		}
	})
}
