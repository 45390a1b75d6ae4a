package server_test

import (
	"sync"
	"testing"

	"sapient.dev/sapient/internal/keys"
	"sapient.dev/sapient/internal/server"
	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
)

// TestStartTogether starts three instances and a migrate at once on one
// empty PostgreSQL database, as an orchestrator does: each opens its own
// store, migrates, starts and creates the first Admin. All come up; the
// migrations run once and one Admin exists, created by one of them.
//
// Before the migration lock, two instances creating goose's version table
// at once failed on PostgreSQL's catalogue ("pg_type_typname_nsp_index"),
// and all but one died creating the Admin another had just created.
func TestStartTogether(t *testing.T) {
	url := storetest.PostgresURL(t)
	kek, err := keys.NewKEK("servertest key-encryption secret, 32+ chars")
	if err != nil {
		t.Fatal(err)
	}
	const instances = 3
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created int
		errs    = make(chan error, instances+1)
	)
	for range instances {
		wg.Go(func() {
			st, err := store.OpenMigrated(t.Context(), url)
			if err != nil {
				errs <- err
				return
			}
			t.Cleanup(func() { st.Close() })
			cfg := server.Config{Store: st, KEK: kek}
			servertest.ForBenchmarks(&cfg)
			srv, err := server.New(t.Context(), cfg)
			if err != nil {
				errs <- err
				return
			}
			t.Cleanup(func() { srv.Close() })
			c, _, err := srv.Users.Bootstrap(t.Context(), "", "")
			if err != nil {
				errs <- err
				return
			}
			if c {
				mu.Lock()
				created++
				mu.Unlock()
			}
		})
	}
	wg.Go(func() { // sapient migrate
		st, err := store.Open(t.Context(), url)
		if err != nil {
			errs <- err
			return
		}
		defer st.Close()
		if _, err := st.Migrate(t.Context()); err != nil {
			errs <- err
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("an instance failed to start: %v", err)
	}
	if created != 1 {
		t.Errorf("%d instances said they created the first Admin, want 1", created)
	}
	st := storetest.Open(t, url)
	if n, err := st.CountAdmins(t.Context()); err != nil || n != 1 {
		t.Errorf("Admins = %d, %v; want 1", n, err)
	}
	var applied int
	if err := st.DB().QueryRow(`SELECT count(*) FROM goose_db_version WHERE version_id > 0`).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if applied != 4 {
		t.Errorf("goose_db_version has %d migrations applied, want each of the 4 once", applied)
	}
}
