package credential_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/store"
)

// countingStore counts the reads the cache makes of single credentials.
// Its ScanCredentials reads every row first, then runs duringScan (as if
// other changes committed while the scan ran), then hands the rows over;
// CredentialsUpdatedSince does the same with duringPoll.
type countingStore struct {
	store.Credentials
	gets       atomic.Int64
	duringScan func()
	duringPoll func() // as duringScan, for CredentialsUpdatedSince
}

func (s *countingStore) CredentialsUpdatedSince(ctx context.Context, since time.Time) ([]store.Credential, error) {
	changed, err := s.Credentials.CredentialsUpdatedSince(ctx, since)
	if s.duringPoll != nil {
		s.duringPoll()
	}
	return changed, err
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
	return s.Credentials.GetCredential(ctx, clientID)
}

// cacheFixture is a fixture with a cache over a counting store, fed at
// once by the fixture's service (as on the instance that makes changes),
// and a second service with no cache (as the CLI or another instance).
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

func TestCacheLookupLoadsOnce(t *testing.T) {
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
			if again := f.lookup(t, id); again != e {
				t.Fatal("Lookup returned a different entry")
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

// createPredicted creates a credential through the uncached service with a
// client ID known beforehand, so that a test can look it up before it
// exists.
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
// existed is found once another instance created it: at the next Sync, or
// on its own once the remembered miss has expired.
func TestCacheSeesCredentialCreatedElsewhere(t *testing.T) {
	forEachCacheBackend(t, func(t *testing.T, f *cacheFixture) {
		ctx := t.Context()
		now := f.clock.Now()
		bySync, createBySync := f.createPredicted(t, f.other, "by sync")
		byExpiry, createByExpiry := f.createPredicted(t, f.other, "by expiry")
		for _, id := range []string{bySync, byExpiry} {
			if _, err := f.cache.Lookup(ctx, id, now); !errors.Is(err, credential.ErrNotFound) {
				t.Fatalf("Lookup before create = %v, want ErrNotFound", err)
			}
		}
		f.wantGets(t, 2)
		createBySync()
		createByExpiry()
		// Still remembered as missing: no read, still not found.
		if _, err := f.cache.Lookup(ctx, byExpiry, now.Add(500*time.Millisecond)); !errors.Is(err, credential.ErrNotFound) {
			t.Fatalf("Lookup within the miss window = %v", err)
		}
		f.wantGets(t, 2)

		// Without a Sync, the miss expires after a second and the next
		// Lookup reads the database.
		if e, err := f.cache.Lookup(ctx, byExpiry, now.Add(1500*time.Millisecond)); err != nil || e.ClientID != byExpiry {
			t.Fatalf("Lookup after the miss expired = %v, %v", e, err)
		}
		f.wantGets(t, 3)

		// Sync brings in a credential remembered as missing, with no read.
		if err := f.cache.Sync(ctx, now.Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
		if e, err := f.cache.Lookup(ctx, bySync, now.Add(500*time.Millisecond)); err != nil || e.ClientID != bySync {
			t.Fatalf("Lookup after Sync = %v, %v", e, err)
		}
		f.wantGets(t, 3)
	})
}

func TestCachePut(t *testing.T) {
	forEachCacheBackend(t, func(t *testing.T, f *cacheFixture) {
		ctx := t.Context()
		f.svc.Changed = f.cache.Put // as server.New wires it
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
		f.svc.Changed = f.cache.Put
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

func TestCacheSync(t *testing.T) {
	forEachCacheBackend(t, func(t *testing.T, f *cacheFixture) {
		ctx := t.Context()
		watched := f.create(t, access.CLI, f.acme.ID, "watched", nil).Credential
		unwatched := f.create(t, access.CLI, f.acme.ID, "unwatched", nil).Credential
		if e := f.lookup(t, watched.ClientID); !e.Active(f.clock.Now()) {
			t.Fatal("not active")
		}
		f.wantGets(t, 1)

		// Another instance (or the CLI) revokes both; this cache is not told.
		f.clock.Advance(time.Minute)
		since := f.clock.Now().Add(-5 * time.Second)
		for _, id := range []string{watched.ClientID, unwatched.ClientID} {
			if _, err := f.other.Revoke(ctx, access.CLI, id); err != nil {
				t.Fatal(err)
			}
		}
		if e := f.lookup(t, watched.ClientID); !e.Active(f.clock.Now()) {
			t.Fatal("the cache read the database without a Sync: this test proves nothing")
		}

		if err := f.cache.Sync(ctx, since); err != nil {
			t.Fatal(err)
		}
		e := f.lookup(t, watched.ClientID)
		if e.Active(f.clock.Now()) || !e.RevokedAt.Equal(f.clock.Now()) {
			t.Fatalf("after Sync: revoked at %v, active %v", e.RevokedAt, e.Active(f.clock.Now()))
		}
		f.wantGets(t, 1)
		// Sync refreshes what is cached and does not load the rest.
		if f.cache.Len() != 1 {
			t.Fatalf("Len = %d after Sync, want 1", f.cache.Len())
		}
		if e := f.lookup(t, unwatched.ClientID); e.Active(f.clock.Now()) {
			t.Fatal("uncached credential loaded as active after revoke")
		}
		f.wantGets(t, 2)

		// A Sync window that ends before the change misses nothing it
		// should keep: an older since still includes it.
		if err := f.cache.Sync(ctx, t0); err != nil {
			t.Fatal(err)
		}
		if e := f.lookup(t, watched.ClientID); e.Active(f.clock.Now()) {
			t.Fatal("revocation undone by a later Sync")
		}
	})
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
