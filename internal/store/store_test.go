package store_test

import (
	"errors"
	"testing"

	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			storetest.RunTests(t, func(t *testing.T) store.Store { return storetest.New(t, b) })
		})
	}
}

// TestMigrateRefusesNewerDatabase checks that a binary never runs against a
// schema it does not know.
func TestMigrateRefusesNewerDatabase(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			url := b.URL(t)
			s := storetest.Open(t, url)
			if _, err := s.DB().Exec(`INSERT INTO goose_db_version (version_id, is_applied) VALUES (9999, true)`); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Migrate(t.Context()); !errors.Is(err, store.ErrNewerDatabase) {
				t.Fatalf("Migrate on a newer database: got %v, want ErrNewerDatabase", err)
			}
			if v, err := s.Migrate(t.Context()); v != 9999 || err == nil {
				t.Errorf("Migrate reported version %d, %v", v, err)
			}
		})
	}
}
