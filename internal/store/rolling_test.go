package store_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
)

// nextRelease is migration 100 of a release to come, of the kind a rolling
// upgrade allows: it only adds (a table, a nullable column). Its up
// function stops half-way, its changes made but not committed, until
// proceed is closed, telling migrating that it got there.
func nextRelease(migrating, proceed chan struct{}) *goose.Migration {
	exec := func(stmts ...string) func(ctx context.Context, tx *sql.Tx) error {
		return func(ctx context.Context, tx *sql.Tx) error {
			for _, stmt := range stmts {
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return err
				}
			}
			return nil
		}
	}
	up := exec(`CREATE TABLE next_release (id TEXT PRIMARY KEY)`, `ALTER TABLE credentials ADD COLUMN next_note TEXT`)
	return goose.NewGoMigration(100,
		&goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
			if err := up(ctx, tx); err != nil {
				return err
			}
			close(migrating)
			<-proceed
			return nil
		}},
		&goose.GoFunc{RunTx: exec(`ALTER TABLE credentials DROP COLUMN next_note`, `DROP TABLE next_release`)},
	)
}

// TestRollingUpgrade: an instance of this release keeps serving while the
// next release migrates the database under it (an additive migration,
// held open half-way), and after: tokens, bearer calls, readiness, new
// credentials. What it cannot do is start again on the newer schema: an
// old instance that restarts during the upgrade is refused, by design, and
// must be replaced by the new release (see the README, "Upgrades").
func TestRollingUpgrade(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		dbURL := b.URL(t)
		old := servertest.Start(t, dbURL)
		acme := old.Org(t, "Acme")
		c1 := old.Credential(t, acme.ID, "billing", nil)
		old.Token(t, c1)

		next, err := store.Open(t.Context(), dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer next.Close()
		migrating, proceed := make(chan struct{}), make(chan struct{})
		migrated := make(chan error, 1)
		go func() {
			v, err := next.MigrateWith(t.Context(), nextRelease(migrating, proceed))
			if err == nil && v != 100 {
				err = errors.New("the next release's migration did not reach version 100")
			}
			migrated <- err
		}()
		select {
		case <-migrating:
		case err := <-migrated:
			t.Fatalf("the next release migrated without stopping half-way: %v", err)
		}

		// Half-way through the migration, the old instance serves what
		// it holds in memory: tokens, bearer calls, readiness.
		served := make(chan struct{})
		go func() {
			defer close(served)
			w := httptest.NewRecorder()
			old.Server.Handler().ServeHTTP(w, servertest.TokenRequest(c1))
			var tok struct {
				AccessToken string `json:"access_token"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &tok); err != nil || tok.AccessToken == "" {
				t.Errorf("token while the next release migrates: %d %s", w.Code, w.Body)
				return
			}
			for path, auth := range map[string]string{"/api/v1/me": "Bearer " + tok.AccessToken, "/readyz": ""} {
				r := httptest.NewRequest(http.MethodGet, path, nil)
				if auth != "" {
					r.Header.Set("Authorization", auth)
				}
				w := httptest.NewRecorder()
				old.Server.Handler().ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					t.Errorf("%s while the next release migrates: %d %s", path, w.Code, w.Body)
				}
			}
		}()
		select {
		case <-served:
		case <-time.After(10 * time.Second):
			t.Fatal("the old instance stopped serving while the next release migrated")
		}
		close(proceed)
		if err := <-migrated; err != nil {
			t.Fatalf("next release: %v", err)
		}

		// After it, the old instance writes and reads rows of the
		// tables the migration changed.
		c2 := old.Credential(t, acme.ID, "reports", nil)
		old.Token(t, c2)
		if cs, err := old.Store.ListCredentials(t.Context(), store.CredentialFilter{OrgID: acme.ID}); err != nil || len(cs) != 2 {
			t.Errorf("old instance lists %d credentials, %v; want 2", len(cs), err)
		}

		// But it does not start again on the newer schema.
		if _, err := old.Store.Migrate(t.Context()); !errors.Is(err, store.ErrNewerDatabase) {
			t.Errorf("an old instance starting on the newer schema: %v, want ErrNewerDatabase", err)
		}
	})
}

// TestUpToDateMigratesWithoutTheLocks: opening a database already at this
// build's migrations, as every CLI command does, neither takes nor waits
// for the migration locks, while a database a migration behind still
// waits for whoever holds them, then migrates.
func TestUpToDateMigratesWithoutTheLocks(t *testing.T) {
	url := storetest.Backends()[1].Migrated(t)
	s := storetest.Open(t, url)
	want, err := s.Migrate(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	locks, err := s.MigrationLocks(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// Another process holds the locks, as an instance migrating would.
	other, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	holder, err := other.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	for _, id := range locks {
		if _, err := holder.ExecContext(t.Context(), `SELECT pg_advisory_lock($1)`, id); err != nil {
			t.Fatal(err)
		}
	}
	// Waiting would never end while the locks are held; the deadline
	// only turns a wait into a failure instead of a hung test.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if got, err := s.Migrate(ctx); err != nil || got != want {
		t.Fatalf("up to date, with the locks held elsewhere: version %d, %v; want %d without waiting", got, err, want)
	}

	if err := s.MigrateTo(t.Context(), want-1); err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if got, err := s.Migrate(ctx); err == nil {
		t.Fatalf("a migration behind, with the locks held elsewhere: migrated to %d without them", got)
	}
	for _, id := range locks {
		if _, err := holder.ExecContext(t.Context(), `SELECT pg_advisory_unlock($1)`, id); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.Migrate(t.Context()); err != nil || got != want {
		t.Fatalf("once the locks are free: version %d, %v; want %d", got, err, want)
	}
}
