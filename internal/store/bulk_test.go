package store_test

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
)

// TestCreateCredentials checks that the bulk insert stores every field as
// CreateCredential does, in batches larger than one statement, on every
// backend, and that a duplicate aborts the whole insert.
func TestCreateCredentials(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		s := storetest.New(t, b)
		now := time.Now().UTC().Truncate(time.Microsecond)
		if err := s.CreateOrg(t.Context(), store.Org{ID: "org_1", Name: "Acme", CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		full := store.Credential{
			ClientID: "sapci_full", OrgID: "org_1", Name: "full", SecretHash: "ab", Scopes: []string{"a", "b"},
			CreatedAt: now, CreatedBy: "cli", LastUsedAt: now, RevokedAt: now, RevokedBy: "x", ExpiresAt: now.Add(time.Hour),
			UpdatedAt: now, LastUsedIP: "127.0.0.1", PreviousSecretHash: "cd", PreviousSecretExpiresAt: now.Add(time.Minute),
			AllowedCIDRs: []string{"10.0.0.0/8"},
		}
		one := full
		one.ClientID, one.Name = "sapci_one", "one"
		if _, err := s.CreateCredential(t.Context(), one); err != nil {
			t.Fatal(err)
		}
		creds := []store.Credential{full}
		for i := range 2500 {
			creds = append(creds, store.Credential{ClientID: fmt.Sprintf("sapci_%05d", i), OrgID: "org_1",
				Name: fmt.Sprintf("n%05d", i), SecretHash: "ef", Scopes: []string{}, CreatedAt: now, UpdatedAt: now})
		}
		if err := s.CreateCredentials(t.Context(), creds); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetCredential(t.Context(), "sapci_full")
		if err != nil {
			t.Fatal(err)
		}
		want, _ := s.GetCredential(t.Context(), "sapci_one")
		want.ClientID, want.Name = "sapci_full", "full"
		// The store stamps each write and gives it a position of its own.
		if !(got.Version > want.Version) {
			t.Errorf("bulk insert's version %d, want after the earlier write's %d", got.Version, want.Version)
		}
		want.UpdatedAt, want.Version = got.UpdatedAt, got.Version
		if !reflect.DeepEqual(got, want) {
			t.Errorf("bulk insert stored\n%+v\nCreateCredential stored\n%+v", got, want)
		}
		if _, err := s.GetCredential(t.Context(), "sapci_02499"); err != nil {
			t.Errorf("last of the batch: %v", err)
		}
		dup := []store.Credential{{ClientID: "sapci_new", OrgID: "org_1", Name: "new", SecretHash: "x", CreatedAt: now, UpdatedAt: now}, creds[1]}
		if err := s.CreateCredentials(t.Context(), dup); err == nil {
			t.Fatal("a duplicate client ID was inserted")
		}
		if _, err := s.GetCredential(t.Context(), "sapci_new"); err == nil {
			t.Error("a failed bulk insert left a credential behind")
		}
	})
}
