package credential_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/store"
)

// countingStore counts the reads the cache makes of single credentials,
// Its ScanCredentials
// reads every row first, then runs duringScan (as if other changes
// committed while the scan ran), then hands the rows over.
type countingStore struct {
	store.Credentials
	gets       atomic.Int64
	duringScan func()
}

func (s *countingStore) ScanCredentials(ctx context.Context, fn func(store.Credential) error) error {
	var read []store.Credential
	if err := s.Credentials.ScanCredentials(ctx, func(c store.Credential) error {
		read = append(read, c)
		return nil
	}); err != nil {
		return err
	}
	if s.duringScan != nil {
		s.duringScan()
	}
	for _, c := range read {
		if err := fn(c); err != nil {
			return err
		}
	}
	return nil
}

func (s *countingStore) GetCredential(ctx context.Context, clientID string) (store.Credential, error) {
	s.gets.Add(1)
	c, err := s.Credentials.GetCredential(ctx, clientID)
	return c, err
}

// cacheFixture is a fixture with a cache over a counting store, and a
// second service with no cache (as the CLI or another instance).
type cacheFixture struct {
	*fixture
	counting *countingStore
	cache    *credential.Cache
	other    *credential.Service
}

func forEachCacheBackend(t *testing.T, fn func(t *testing.T, f *cacheFixture)) {
	t.Helper()
	forEachBackend(t, func(t *testing.T, f *fixture) {
		cf := &cacheFixture{fixture: f, counting: &countingStore{Credentials: f.store}}
		cf.cache = credential.NewCache(cf.counting)
		cf.other = &credential.Service{Store: f.store, Now: f.clock.Now, Rand: rand.Reader}
		fn(t, cf)
	})
}

// putChanges makes the fixture's service tell the cache of every change
// it makes, as server.New wires it.
func (f *cacheFixture) putChanges() {
	f.svc.Changed = func(c store.Credential) { f.cache.Put(c) }
}

func (f *cacheFixture) lookup(t *testing.T, clientID string) *credential.Entry {
	t.Helper()
	e, err := f.cache.Lookup(t.Context(), clientID, f.clock.Now())
	if err != nil {
		t.Fatalf("Lookup(%s): %v", clientID, err)
	}
	return e
}

func (f *cacheFixture) wantGets(t *testing.T, want int64) {
	t.Helper()
	if got := f.counting.gets.Load(); got != want {
		t.Fatalf("GetCredential called %d times, want %d", got, want)
	}
}

func TestCacheLookupReadsOnce(t *testing.T) {
	forEachCacheBackend(t, func(t *testing.T, f *cacheFixture) {
		// Made without the cache, as by the CLI.
		c, err := f.other.Create(t.Context(), access.CLI, credential.CreateRequest{
			OrgID: f.acme.ID, Name: "billing", Scopes: []string{"usage:read", "credentials:read"},
		})
		if err != nil {
			t.Fatal(err)
		}
		id := c.Credential.ClientID
		e := f.lookup(t, id)
		f.wantGets(t, 1)
		if e.ClientID != id || e.OrgID != f.acme.ID || e.Name != "billing" {
			t.Fatalf("entry = %+v", e)
		}
		if !e.Hash.Equal(credential.HashSecret(c.Secret)) {
			t.Fatal("entry hash does not match the secret")
		}
		if e.Scope != "credentials:read usage:read" || !slices.Equal(e.Scopes, []string{"credentials:read", "usage:read"}) {
			t.Fatalf("entry scopes = %q / %q", e.Scopes, e.Scope)
		}
		if !e.HasScope("usage:read") || e.HasScope("audit:read") || e.HasScope("usage") {
			t.Fatal("HasScope is wrong")
		}
		if !e.Active(f.clock.Now()) {
			t.Fatal("new credential is not active")
		}
		for range 10 {
			if again := f.lookup(t, id); !reflect.DeepEqual(again, e) {
				t.Fatalf("Lookup answered %+v, then %+v", e, again)
			}
		}
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if _, err := f.cache.Lookup(context.Background(), id, f.clock.Now()); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		f.wantGets(t, 1)
		if f.cache.Len() != 1 {
			t.Fatalf("Len = %d, want 1", f.cache.Len())
		}
	})
}

func TestCacheUnknown(t *testing.T) {
	forEachCacheBackend(t, func(t *testing.T, f *cacheFixture) {
		ctx := t.Context()
		now := f.clock.Now()
		const id = "sapci_aaaaaaaaaaaaaaaaaaaaaaaaaa"
		if _, err := f.cache.Lookup(ctx, id, now); !errors.Is(err, credential.ErrNotFound) {
			t.Fatalf("Lookup(unknown) = %v, want ErrNotFound", err)
		}
		f.wantGets(t, 1)
		// An unknown ID is remembered for a short while, so a flood of
		// requests for it does not reach the database.
		for range 5 {
			if _, err := f.cache.Lookup(ctx, id, now.Add(500*time.Millisecond)); !errors.Is(err, credential.ErrNotFound) {
				t.Fatalf("Lookup(unknown) = %v, want ErrNotFound", err)
			}
		}
		f.wantGets(t, 1)
		// ... and asked again once that while has passed.
		if _, err := f.cache.Lookup(ctx, id, now.Add(2*time.Second)); !errors.Is(err, credential.ErrNotFound) {
			t.Fatalf("Lookup(unknown) = %v, want ErrNotFound", err)
		}
		f.wantGets(t, 2)
		if f.cache.Len() != 0 {
			t.Fatalf("Len = %d after misses", f.cache.Len())
		}
	})
}

// createPredicted creates a credential through svc with a client ID known
// beforehand, so that a test can look it up before it exists.
func (f *cacheFixture) createPredicted(t *testing.T, svc *credential.Service, name string) (id string, create func() store.Credential) {
	t.Helper()
	seed := make([]byte, 16+32)
	rand.Read(seed)
	id, err := credential.NewClientID(bytes.NewReader(seed))
	if err != nil {
		t.Fatal(err)
	}
	return id, func() store.Credential {
		t.Helper()
		saved := svc.Rand
		svc.Rand = bytes.NewReader(seed)
		defer func() { svc.Rand = saved }()
		c, err := svc.Create(t.Context(), access.CLI, credential.CreateRequest{OrgID: f.acme.ID, Name: name})
		if err != nil {
			t.Fatal(err)
		}
		if c.Credential.ClientID != id {
			t.Fatalf("client ID %s, predicted %s", c.Credential.ClientID, id)
		}
		return c.Credential
	}
}

// TestCacheSeesCredentialCreatedElsewhere: a client ID looked up before it
// existed is found once another instance created it: at once when the
// change reaches the cache (Put, as the change log's reader does), or on
// its own once the remembered miss has expired.
func TestCacheSeesCredentialCreatedElsewhere(t *testing.T) {
	forEachCacheBackend(t, func(t *testing.T, f *cacheFixture) {
		ctx := t.Context()
		now := f.clock.Now()
		byPut, createByPut := f.createPredicted(t, f.other, "by put")
		byExpiry, createByExpiry := f.createPredicted(t, f.other, "by expiry")
		for _, id := range []string{byPut, byExpiry} {
			if _, err := f.cache.Lookup(ctx, id, now); !errors.Is(err, credential.ErrNotFound) {
				t.Fatalf("Lookup before create = %v, want ErrNotFound", err)
			}
		}
		f.wantGets(t, 2)
		put := createByPut()
		createByExpiry()
		// Still remembered as missing: no read, still not found.
		if _, err := f.cache.Lookup(ctx, byExpiry, now.Add(500*time.Millisecond)); !errors.Is(err, credential.ErrNotFound) {
			t.Fatalf("Lookup within the miss window = %v", err)
		}
		f.wantGets(t, 2)

		// Untold, the cache reads the database once the miss expires.
		if e, err := f.cache.Lookup(ctx, byExpiry, now.Add(1500*time.Millisecond)); err != nil || e.ClientID != byExpiry {
			t.Fatalf("Lookup after the miss expired = %v, %v", e, err)
		}
		f.wantGets(t, 3)

		// Told, it knows at once, with no read.
		f.cache.Put(put)
		if e, err := f.cache.Lookup(ctx, byPut, now.Add(500*time.Millisecond)); err != nil || e.ClientID != byPut {
			t.Fatalf("Lookup after Put = %v, %v", e, err)
		}
		f.wantGets(t, 3)
	})
}

func TestCachePut(t *testing.T) {
	forEachCacheBackend(t, func(t *testing.T, f *cacheFixture) {
		ctx := t.Context()
		f.putChanges()
		c := f.create(t, access.CLI, f.acme.ID, "billing", nil)
		id := c.Credential.ClientID
		e := f.lookup(t, id)
		f.wantGets(t, 0) // Put made it known without a read
		if !e.Hash.Equal(credential.HashSecret(c.Secret)) || !e.Active(f.clock.Now()) {
			t.Fatalf("entry after Put = %+v", e)
		}

		f.clock.Advance(time.Second)
		if _, err := f.svc.Revoke(ctx, access.CLI, id); err != nil {
			t.Fatal(err)
		}
		e = f.lookup(t, id)
		f.wantGets(t, 0)
		if e.Active(f.clock.Now()) || e.RevokedAt.IsZero() {
			t.Fatal("revocation on this instance is not seen at once")
		}

		// A stale copy arriving late never undoes the revocation.
		f.cache.Put(c.Credential)
		if e := f.lookup(t, id); e.Active(f.clock.Now()) {
			t.Fatal("an older Put made a revoked credential active again")
		}

		// A Put with an unreadable hash is ignored rather than cached.
		bad := c.Credential
		bad.ClientID, bad.SecretHash = "sapci_badhash", "not hex"
		f.cache.Put(bad)
		if _, err := f.cache.Lookup(ctx, bad.ClientID, f.clock.Now()); !errors.Is(err, credential.ErrNotFound) {
			t.Fatalf("Lookup after bad Put = %v, want ErrNotFound", err)
		}
	})
}

// TestCachePutClearsMiss: a credential created here right after its ID was
// looked up as unknown is found at once, not after the miss expires.
func TestCachePutClearsMiss(t *testing.T) {
	forEachCacheBackend(t, func(t *testing.T, f *cacheFixture) {
		f.putChanges()
		id, create := f.createPredicted(t, f.svc, "x")
		now := f.clock.Now()
		if _, err := f.cache.Lookup(t.Context(), id, now); !errors.Is(err, credential.ErrNotFound) {
			t.Fatal(err)
		}
		create()
		if e, err := f.cache.Lookup(t.Context(), id, now); err != nil || e.ClientID != id {
			t.Fatalf("Lookup after Put = %v, %v", e, err)
		}
		f.wantGets(t, 1)
	})
}

// noStore is a store that holds nothing, for tests whose cache must
// answer from what it was told.
type noStore struct{ store.Credentials }

func (noStore) GetCredential(context.Context, string) (store.Credential, error) {
	return store.Credential{}, store.ErrNotFound
}

// TestCachePutOrder: of the versions of a credential, the cache keeps the
// one with the highest Version, whatever order they arrive in; of two
// with the same Version, the one it holds. It holds for every form a
// credential can take in the cache.
func TestCachePutOrder(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	id, err := credential.NewClientID(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	version := func(v int64, name string) store.Credential {
		return store.Credential{
			ClientID: id, OrgID: "org_1", Name: name, SecretHash: credential.HashSecret("s").String(),
			Scopes: []string{"usage:read"}, UpdatedAt: t0, Version: v,
		}
	}
	v1, v2, v3 := version(1, "v1"), version(2, "v2"), version(3, "v3 revoked")
	v3.RevokedAt = t0
	tie := version(2, "v2 again")
	forms := []struct {
		name string
		form func(c *store.Credential)
	}{
		{"plain", func(*store.Credential) {}},
		{"hand-made client ID", func(c *store.Credential) { c.ClientID = "c1" }},
		{"allow-list", func(c *store.Credential) { c.AllowedCIDRs = []string{"192.0.2.0/24"} }},
		{"secret being rolled in odd versions", func(c *store.Credential) {
			if c.Version%2 == 1 {
				c.PreviousSecretHash, c.PreviousSecretExpiresAt = credential.HashSecret("old").String(), t0.Add(time.Hour)
			}
		}},
	}
	tests := []struct {
		name string
		puts []store.Credential
		want store.Credential
	}{
		{"older then newer", []store.Credential{v1, v2}, v2},
		{"newer then older", []store.Credential{v2, v1}, v2},
		{"revocation then stale active", []store.Credential{v3, v2, v1}, v3},
		{"stale active then revocation", []store.Credential{v1, v3, v2}, v3},
		{"same version: the one held stays", []store.Credential{v2, tie}, v2},
	}
	for _, fm := range forms {
		for _, tt := range tests {
			t.Run(fm.name+"/"+tt.name, func(t *testing.T) {
				c := credential.NewCache(noStore{})
				for _, p := range tt.puts {
					fm.form(&p)
					c.Put(p)
				}
				want := tt.want
				fm.form(&want)
				got, err := c.Lookup(t.Context(), want.ClientID, t0)
				if err != nil {
					t.Fatal(err)
				}
				if got.Version != want.Version || got.Name != want.Name || got.Active(t0) != want.Active(t0) {
					t.Fatalf("kept version %d %q (active %v), want %d %q", got.Version, got.Name, got.Active(t0), want.Version, want.Name)
				}
				if n := c.Len(); n != 1 {
					t.Fatalf("Len = %d, want 1", n)
				}
			})
		}
	}
}

// TestCacheLookupKeepsNewerPut: a version read from the store on a miss
// does not replace a newer one that reached the cache while the read was
// on its way back.
func TestCacheLookupKeepsNewerPut(t *testing.T) {
	forEachCacheBackend(t, func(t *testing.T, f *cacheFixture) {
		ctx := t.Context()
		c := f.create(t, access.CLI, f.acme.ID, "billing", nil).Credential
		f.clock.Advance(time.Second)
		revoked, err := f.other.Revoke(ctx, access.CLI, c.ClientID)
		if err != nil {
			t.Fatal(err)
		}
		slow := &readThenPut{Credentials: f.store, read: c}
		cache := credential.NewCache(slow)
		slow.put = func() { cache.Put(revoked) }
		if e, err := cache.Lookup(ctx, c.ClientID, f.clock.Now()); err != nil || e.Active(f.clock.Now()) {
			t.Fatalf("Lookup = %+v, %v; want the revoked version", e, err)
		}
		if e, err := cache.Lookup(ctx, c.ClientID, f.clock.Now()); err != nil || e.Active(f.clock.Now()) {
			t.Fatalf("Lookup after = %+v, %v; want the revoked version kept", e, err)
		}
	})
}

// readThenPut answers GetCredential with read, an older version of the
// credential, after running put.
type readThenPut struct {
	store.Credentials
	read store.Credential
	put  func()
}

func (s *readThenPut) GetCredential(context.Context, string) (store.Credential, error) {
	s.put()
	return s.read, nil
}

func TestEntryActive(t *testing.T) {
	now := t0
	tests := []struct {
		name string
		e    credential.Entry
		want bool
	}{
		{"plain", credential.Entry{}, true},
		{"revoked", credential.Entry{RevokedAt: now.Add(-time.Hour)}, false},
		{"expires later", credential.Entry{ExpiresAt: now.Add(time.Second)}, true},
		{"expires now", credential.Entry{ExpiresAt: now}, false},
		{"expired", credential.Entry{ExpiresAt: now.Add(-time.Second)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.e.Active(now); got != tt.want {
				t.Fatalf("Active = %v, want %v", got, tt.want)
			}
		})
	}
}
