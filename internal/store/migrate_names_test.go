package store_test

import (
	"errors"
	"testing"
	"time"

	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
)

// TestMigrateNameKeys checks migration 6 on names stored before it: names
// that look alike, accepted then side by side, all survive and keep
// working; afterwards a new name like any of them is refused, in the
// organisation that holds it only.
func TestMigrateNameKeys(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		ctx := t.Context()
		s, err := store.Open(ctx, b.URL(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if err := s.MigrateTo(ctx, 5); err != nil {
			t.Fatal(err)
		}
		now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC).UnixMicro()
		exec := func(query string, args ...any) {
			t.Helper()
			if _, err := s.DB().ExecContext(ctx, query, args...); err != nil {
				t.Fatal(err)
			}
		}
		exec(`INSERT INTO orgs (id, name, created_at, updated_at) VALUES ($1, $2, $3, $3)`, "org_1", "café", now)
		exec(`INSERT INTO orgs (id, name, created_at, updated_at) VALUES ($1, $2, $3, $3)`, "org_2", "cafe\u0301", now+1)
		cred := `INSERT INTO credentials (client_id, org_id, name, secret_hash, created_at, updated_at, revoked_at) VALUES ($1, $2, $3, 'h', $4, $4, $5)`
		exec(cred, "sap_a", "org_1", "a-full", now, nil)
		exec(cred, "sap_b", "org_1", "ａ-full", now+1, nil)
		exec(cred, "sap_c", "org_1", "A-FULL", now+2, now+3) // revoked
		exec(cred, "sap_d", "org_2", "a-full", now, nil)
		if _, err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}

		for _, id := range []string{"sap_a", "sap_b", "sap_c", "sap_d"} {
			if _, err := s.GetCredential(ctx, id); err != nil {
				t.Errorf("credential %s after migration: %v", id, err)
			}
		}
		if o, err := s.GetOrgByName(ctx, "CAFÉ"); err != nil || o.ID != "org_1" {
			t.Errorf("GetOrgByName(CAFÉ) = %q, %v; want the older org_1", o.ID, err)
		}
		err = s.CreateOrg(ctx, store.Org{ID: "org_3", Name: "Café", CreatedAt: time.UnixMicro(now)})
		if !errors.Is(err, store.ErrAlreadyExists) {
			t.Errorf("new organisation like café: %v, want ErrAlreadyExists", err)
		}
		newCred := func(id, orgID, name string) error {
			_, err := s.CreateCredential(ctx, store.Credential{ClientID: id, OrgID: orgID, Name: name, SecretHash: "h",
				CreatedAt: time.UnixMicro(now), UpdatedAt: time.UnixMicro(now)})
			return err
		}
		if err := newCred("sap_e", "org_1", "A-Full"); !errors.Is(err, store.ErrAlreadyExists) {
			t.Errorf("new credential like a-full in org_1: %v, want ErrAlreadyExists", err)
		}
		if err := newCred("sap_f", "org_2", "Ａ-FULL"); !errors.Is(err, store.ErrAlreadyExists) {
			t.Errorf("new credential like a-full in org_2: %v, want ErrAlreadyExists", err)
		}
		// The later look-alike can still be renamed to a name of its own.
		if _, err := s.UpdateCredential(ctx, "sap_b", func(c store.Credential) (store.Credential, error) {
			c.Name = "b-full"
			return c, nil
		}); err != nil {
			t.Errorf("rename of a look-alike kept by the migration: %v", err)
		}
		if err := newCred("sap_g", "org_1", "B-FULL"); !errors.Is(err, store.ErrAlreadyExists) {
			t.Errorf("new credential like the renamed b-full: %v, want ErrAlreadyExists", err)
		}

		// And back down: the old schema returns, with its index.
		if err := s.MigrateTo(ctx, 5); err != nil {
			t.Fatalf("migrate down: %v", err)
		}
	})
}
