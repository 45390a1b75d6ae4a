package credential_test

import (
	"crypto/rand"
	"errors"
	"slices"
	"testing"
	"time"

	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/store"
)

// TestOrgCachePutOrder: of the states of an organisation, the cache keeps
// the one with the highest Version, whatever order they arrive in; of two
// with the same Version, the one it holds.
func TestOrgCachePutOrder(t *testing.T) {
	state := func(v int64, scopes ...string) store.Org {
		return store.Org{ID: "org_1", Name: "Acme", Scopes: scopes, Version: v}
	}
	v1, v2, v3 := state(1, "a"), state(2, "a", "b"), state(3)
	tests := []struct {
		name string
		puts []store.Org
		want store.Org
	}{
		{"older then newer", []store.Org{v1, v2}, v2},
		{"newer then older", []store.Org{v2, v1}, v2},
		{"scope withdrawn, then a stale grant", []store.Org{v3, v2, v1}, v3},
		{"a stale grant, then the withdrawal", []store.Org{v1, v3, v2}, v3},
		{"same version: the one held stays", []store.Org{v2, state(2, "x")}, v2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := credential.NewOrgCache(nil) // answers from what it was told
			for _, o := range tt.puts {
				c.Put(o)
			}
			got, err := c.Lookup(t.Context(), "org_1")
			if err != nil {
				t.Fatal(err)
			}
			if got.Version != tt.want.Version || !slices.Equal(got.Scopes, tt.want.Scopes) {
				t.Fatalf("kept version %d %v, want %d %v", got.Version, got.Scopes, tt.want.Version, tt.want.Scopes)
			}
		})
	}
}

// grant adds a scope to an organisation's grant, directly in the store,
// as another instance or the CLI does.
func (f *cacheFixture) grant(t *testing.T, orgID, scope string) {
	t.Helper()
	f.clock.Advance(time.Second)
	if _, err := f.store.UpdateOrg(t.Context(), orgID, func(o store.Org) (store.Org, error) {
		o.Scopes, o.UpdatedAt = append(o.Scopes, scope), f.clock.Now()
		return o, nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestOrgCacheRefresh(t *testing.T) {
	forEachCacheBackend(t, func(t *testing.T, f *cacheFixture) {
		ctx := t.Context()
		orgs := credential.NewOrgCache(f.store)
		before, err := orgs.Lookup(ctx, f.acme.ID)
		if err != nil || before.Allows("shipments:read") {
			t.Fatalf("Lookup = %+v, %v", before, err)
		}
		f.grant(t, f.acme.ID, "shipments:read")
		if o, _ := orgs.Lookup(ctx, f.acme.ID); o != before {
			t.Fatal("Lookup read the store again: this test proves nothing")
		}
		after, err := orgs.Refresh(ctx, f.acme.ID)
		if err != nil || !after.Allows("shipments:read") || after.Version <= before.Version {
			t.Fatalf("Refresh = %+v, %v; want the grant, in a newer version than %d", after, err, before.Version)
		}
		if o, _ := orgs.Lookup(ctx, f.acme.ID); o != after {
			t.Fatal("Lookup after Refresh does not answer the refreshed state")
		}
		if _, err := orgs.Refresh(ctx, "org_unknown"); !errors.Is(err, credential.ErrUnknownOrg) {
			t.Fatalf("Refresh(unknown) = %v, want ErrUnknownOrg", err)
		}
	})
}

// TestLookupJudgesNewCredentialByFreshOrg: a credential this instance has
// not seen, created elsewhere with a scope just granted to its
// organisation, is judged against the organisation as the store has it,
// not as this instance cached it before the grant.
func TestLookupJudgesNewCredentialByFreshOrg(t *testing.T) {
	forEachCacheBackend(t, func(t *testing.T, f *cacheFixture) {
		ctx := t.Context()
		orgs := credential.NewOrgCache(f.store)
		f.cache.Orgs = orgs // as server.New wires it
		if o, err := orgs.Lookup(ctx, f.acme.ID); err != nil || o.Allows("shipments:read") {
			t.Fatalf("Lookup = %+v, %v; want Acme without shipments:read", o, err)
		}

		// Elsewhere (the CLI): the grant, then a credential holding the
		// scope, both straight into the store.
		f.grant(t, f.acme.ID, "shipments:read")
		id, err := credential.NewClientID(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		now := f.clock.Now()
		if _, err := f.store.CreateCredential(ctx, store.Credential{
			ClientID: id, OrgID: f.acme.ID, Name: "new", SecretHash: credential.HashSecret("s").String(),
			Scopes: []string{"shipments:read"}, CreatedAt: now, CreatedBy: "cli", UpdatedAt: now,
		}); err != nil {
			t.Fatal(err)
		}

		e := f.lookup(t, id)
		o, err := orgs.Lookup(ctx, e.OrgID)
		if err != nil {
			t.Fatal(err)
		}
		if got := o.Effective(e); got != "shipments:read" {
			t.Fatalf("effective scope %q, want shipments:read", got)
		}
	})
}
