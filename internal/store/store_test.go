package store_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		storetest.RunTests(t, func(t *testing.T) store.Store { return storetest.New(t, b) })
	})
}

// TestMigrateRefusesNewerDatabase checks that a binary never runs against a
// schema it does not know.
func TestMigrateRefusesNewerDatabase(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
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

// TestUsageTwoInstances: two instances on one database write usage, fold
// it and read it at the same time; every count lands exactly once.
func TestUsageTwoInstances(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		url := b.Migrated(t)
		instances := []*store.SQL{storetest.Open(t, url), storetest.Open(t, url)}
		hour := time.Now().UTC().Truncate(time.Hour)
		const writes, clients = 40, 25
		var wg sync.WaitGroup
		for i, s := range instances {
			wg.Go(func() {
				for w := range writes {
					var buckets []store.UsageBucket
					for c := range clients {
						buckets = append(buckets, store.UsageBucket{ClientID: fmt.Sprintf("sap_%02d", c), OrgID: "org_1", Hour: hour,
							TokensIssued: 1, APICalls: int64(i + 1), LastUsedAt: hour.Add(time.Duration(w) * time.Second), LastUsedIP: "192.0.2.1"})
					}
					if err := s.AddUsage(t.Context(), buckets); err != nil {
						t.Error(err)
						return
					}
					if w%4 == i {
						if err := s.FoldUsage(t.Context()); err != nil {
							t.Error(err)
							return
						}
					}
					if w%4 == i+2 {
						if _, err := s.ListUsage(t.Context(), store.UsageFilter{OrgID: "org_1"}); err != nil {
							t.Error(err)
							return
						}
					}
				}
			})
		}
		wg.Wait()
		got, err := instances[0].ListUsage(t.Context(), store.UsageFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != clients {
			t.Fatalf("%d buckets, want %d", len(got), clients)
		}
		for _, u := range got {
			if u.TokensIssued != 2*writes || u.APICalls != 3*writes || !u.LastUsedAt.Equal(hour.Add((writes-1)*time.Second)) {
				t.Errorf("bucket %+v: want %d tokens, %d calls, last use at %v", u, 2*writes, 3*writes, hour.Add((writes-1)*time.Second))
			}
		}
	})
}
