package store_test

import (
	"database/sql"
	"testing"
	"time"

	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
)

// TestPostgresPool: a pooled PostgreSQL schema comes back to the next
// test as a fresh one would be, whatever the test before left: no rows (a
// credential and its organisation among them), the
// change log starting again at 1, every sequence where a fresh schema's
// is (one moved with its table left empty too), and no connection of the test before
// still on it, even one holding locks in an open transaction.
func TestPostgresPool(t *testing.T) {
	pg := storetest.Backends()[1]
	var first string
	t.Run("use", func(t *testing.T) {
		first = pg.Migrated(t)
		s := storetest.Open(t, first)
		if err := s.CreateOrg(t.Context(), store.Org{ID: "org_1", Name: "Acme", CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		// A row that references another: emptying deletes it first.
		if _, err := s.CreateCredential(t.Context(), store.Credential{ClientID: "c1", OrgID: "org_1", Name: "billing", SecretHash: "h", CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		// A connection the test forgets, in a transaction that holds a
		// lock on a table the next test's emptying truncates.
		leaked, err := sql.Open("pgx", first)
		if err != nil {
			t.Fatal(err)
		}
		tx, err := leaked.Begin()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(`LOCK TABLE orgs IN ACCESS SHARE MODE`); err != nil {
			t.Fatal(err)
		}
		// A sequence moved while its table stays empty, as a rolled-back
		// insert leaves it.
		if _, err := leaked.Exec(`SELECT nextval('river_job_id_seq')`); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("reuse", func(t *testing.T) {
		url := pg.Migrated(t)
		if url != first {
			t.Fatalf("the pool gave %s after %s; want the schema back", url, first)
		}
		s := storetest.Open(t, url)
		if orgs, err := s.ListOrgs(t.Context()); err != nil || len(orgs) != 0 {
			t.Fatalf("orgs = %v, %v; want none", orgs, err)
		}
		if err := s.CreateOrg(t.Context(), store.Org{ID: "org_2", Name: "Beta", CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		changes, err := s.ChangesAfter(t.Context(), 0, 10)
		if err != nil || len(changes) != 1 || changes[0].Seq != 1 || changes[0].Ref != "org_2" {
			t.Fatalf("changes = %+v, %v; want the new organisation at position 1", changes, err)
		}
		db, err := sql.Open("pgx", url)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var next int64
		if err := db.QueryRow(`SELECT nextval('river_job_id_seq')`).Scan(&next); err != nil || next != 1 {
			t.Fatalf("river_job_id_seq gave %d, %v; want 1, as in a fresh schema", next, err)
		}
	})
}

// TestSQLiteTemplate: a migrated SQLite database is a file of the test's
// own, at this build's migrations, with no rows, whatever another test's
// copy holds.
func TestSQLiteTemplate(t *testing.T) {
	sqlite := storetest.Backends()[0]
	fresh := sqlite.URL(t)
	want, err := storetest.Open(t, fresh).Migrate(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	first, second := sqlite.Migrated(t), sqlite.Migrated(t)
	if first == second {
		t.Fatalf("two tests got one file, %s", first)
	}
	a := storetest.Open(t, first)
	if err := a.CreateOrg(t.Context(), store.Org{ID: "org_1", Name: "Acme", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", second) // read as it is, not migrated
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var got int64
	if err := raw.QueryRow(`SELECT max(version_id) FROM goose_db_version`).Scan(&got); err != nil || got != want {
		t.Fatalf("the copy is at version %d (%v), want %d", got, err, want)
	}
	b := storetest.Open(t, second)
	if orgs, err := b.ListOrgs(t.Context()); err != nil || len(orgs) != 0 {
		t.Fatalf("orgs = %v, %v; want none", orgs, err)
	}
}
