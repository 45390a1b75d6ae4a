package credential_test

import (
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/org"
	"sapient.dev/sapient/internal/store"
)

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
		orgs := org.NewCache(f.store)
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
		if _, err := orgs.Refresh(ctx, "org_unknown"); !errors.Is(err, org.ErrUnknown) {
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
		orgs := org.NewCache(f.store)
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
		if got := o.Effective(e.Scopes, e.Scope); got != "shipments:read" {
			t.Fatalf("effective scope %q, want shipments:read", got)
		}
	})
}
