package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"sapient.dev/sapient/internal/store"
)

// Migrating a PostgreSQL schema costs the server a third of a second of
// DDL, more than most tests take. So the schemas tests get from Migrated
// are kept, in the database the tests use, and emptied for the next test
// instead of dropped: a pool shared by every test process, now and in
// later runs.
//
// A pooled schema is named sapient_pool_DIGEST_RANDOM, DIGEST naming this
// build's migrations, and belongs to whoever holds its advisory lock: a
// process takes it on a connection it keeps open, so the schemas of a
// process that ends go back to the pool by themselves. Emptying a schema
// ends every connection still on it (each names its schema as its
// application_name) but the session pool's idle ones, deletes the rows of
// every table but the migrations' own, sets every sequence back, and
// copies back the rows the migrations wrote, from the template:
// sapient_pool_DIGEST_template, migrated once and never handed out.
// Schemas of other builds' migrations that no one holds are dropped.
var pool struct {
	once   sync.Once
	err    error
	base   string
	admin  *sql.DB
	locks  *sql.Conn // holds this process's schemas' advisory locks
	prefix string
	reset  string // the statement that empties a schema, with %[1]s for it

	mu   sync.Mutex
	free []string
	// held names every schema this process holds, in use or free: its
	// advisory locks are its session's, which would take them again.
	held map[string]bool
}

// keptTables are the migrations' own tables, which emptying leaves alone.
var keptTables = []string{"goose_db_version", "river_migration"}

// Migrated returns the URL of a migrated database of backend b with no
// data in it, for the test alone. On PostgreSQL it is a pooled schema; on
// SQLite a copy of a database the process migrated once.
func (b Backend) Migrated(t testing.TB) string {
	if b.Name != "postgres" {
		return migratedSQLite(t)
	}
	return pooledPostgres(t)
}

func pooledPostgres(t testing.TB) string {
	base := os.Getenv(PostgresEnv)
	if base == "" {
		return PostgresURL(t) // skips, or fails when PostgreSQL is required
	}
	pool.once.Do(func() { pool.err = openPool(base) })
	if pool.err != nil {
		t.Fatalf("PostgreSQL schema pool: %v", pool.err)
	}
	schema, err := takeSchema(t.Context())
	if err != nil {
		t.Fatalf("PostgreSQL schema pool: %v", err)
	}
	t.Cleanup(func() {
		pool.mu.Lock()
		pool.free = append(pool.free, schema)
		pool.mu.Unlock()
	})
	u, err := schemaURL(pool.base, schema)
	if err != nil {
		t.Fatalf("parse %s: %v", PostgresEnv, err)
	}
	return u
}

func openPool(base string) error {
	ctx := context.Background()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		return err
	}
	locks, err := admin.Conn(ctx)
	if err != nil {
		admin.Close()
		return err
	}
	pool.base, pool.admin, pool.locks, pool.held = base, admin, locks, map[string]bool{}
	pool.prefix = "sapient_pool_" + store.MigrationsDigest()[:12] + "_"
	if err := dropStale(ctx); err != nil {
		return err
	}
	template := pool.prefix + "template"
	if err := makeTemplate(ctx, template); err != nil {
		return err
	}
	// The statement that empties a schema: a DO block, one round trip. It
	// deletes every row, each table's before the rows it references:
	// the few rows a test leaves go in microseconds, where TRUNCATE gives
	// each table and index new files, 30 to 60 ms of the server's time
	// for the handful a test fills.
	tables, err := names(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = $1 AND NOT tablename = ANY($2)`, template, keptTables)
	if err != nil {
		return err
	}
	if tables, err = referencingFirst(ctx, template, tables); err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("DO $$ BEGIN\n")
	var seeded []string
	for _, name := range tables {
		fmt.Fprintf(&b, "DELETE FROM %%[1]s.%s;\n", name)
		var hasRows bool
		if err := admin.QueryRowContext(ctx, fmt.Sprintf(`SELECT EXISTS (SELECT 1 FROM %s.%s)`, template, name)).Scan(&hasRows); err != nil {
			return err
		}
		if hasRows {
			seeded = append(seeded, fmt.Sprintf("INSERT INTO %%[1]s.%[1]s SELECT * FROM %[2]s.%[1]s;\n", name, template))
		}
	}
	// The rows the migrations wrote come back, referenced ones first.
	slices.Reverse(seeded)
	b.WriteString(strings.Join(seeded, ""))
	// Every sequence back where the template's is, whether its table held
	// rows or not (a rolled-back insert moves a sequence too).
	rows, err := admin.QueryContext(ctx, `SELECT sequencename, start_value, last_value FROM pg_sequences WHERE schemaname = $1`, template)
	if err != nil {
		return err
	}
	for rows.Next() {
		var name string
		var start int64
		var last sql.NullInt64
		if err := rows.Scan(&name, &start, &last); err != nil {
			rows.Close()
			return err
		}
		if last.Valid {
			fmt.Fprintf(&b, "PERFORM setval('%%[1]s.%s', %d);\n", name, last.Int64)
		} else {
			fmt.Fprintf(&b, "PERFORM setval('%%[1]s.%s', %d, false);\n", name, start)
		}
	}
	if err := rows.Close(); err != nil {
		return err
	}
	b.WriteString("END $$")
	pool.reset = b.String()
	return nil
}

// dropStale drops the pooled schemas of other builds' migrations that no
// process holds.
func dropStale(ctx context.Context) error {
	stale, err := names(ctx, `SELECT nspname FROM pg_namespace WHERE nspname LIKE 'sapient\_pool\_%' AND NOT starts_with(nspname, $1)`, pool.prefix)
	if err != nil {
		return err
	}
	for _, name := range stale {
		if ok, err := tryLock(ctx, name); err != nil || !ok {
			continue
		}
		pool.admin.ExecContext(ctx, "DROP SCHEMA IF EXISTS "+name+" CASCADE")
		unlock(ctx, name)
	}
	return nil
}

// makeTemplate migrates the template unless it exists, under a lock so
// that processes starting together make it once.
func makeTemplate(ctx context.Context, template string) error {
	if _, err := pool.locks.ExecContext(ctx, `SELECT pg_advisory_lock(hashtext($1))`, template); err != nil {
		return err
	}
	defer unlock(ctx, template)
	var exists bool
	if err := pool.admin.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, template).Scan(&exists); err != nil || exists {
		return err
	}
	return migrateSchema(ctx, template)
}

// migrateSchema creates schema and migrates it. It is made under a
// temporary name and renamed when complete, so that no one ever finds a
// half-migrated one.
func migrateSchema(ctx context.Context, schema string) error {
	tmp := "sapient_test_" + strings.ToLower(rand.Text()[:16])
	if _, err := pool.admin.ExecContext(ctx, "CREATE SCHEMA "+tmp); err != nil {
		return err
	}
	u, err := schemaURL(pool.base, tmp)
	var s *store.SQL
	if err == nil {
		s, err = store.OpenMigrated(ctx, u)
	}
	if err == nil {
		err = s.Close()
	}
	if err == nil {
		_, err = pool.admin.ExecContext(ctx, "ALTER SCHEMA "+tmp+" RENAME TO "+schema)
	}
	if err != nil {
		pool.admin.ExecContext(context.WithoutCancel(ctx), "DROP SCHEMA IF EXISTS "+tmp+" CASCADE")
		return err
	}
	return nil
}

// takeSchema returns an empty pooled schema, held by this process: one
// this process used before, one no process holds, or a new one.
func takeSchema(ctx context.Context) (string, error) {
	for {
		schema, err := heldSchema(ctx)
		if err != nil {
			return "", err
		}
		if schema == "" {
			break
		}
		if err := empty(ctx, schema); err == nil {
			return schema, nil
		}
		dropHeld(ctx, schema)
	}
	schema := pool.prefix + strings.ToLower(rand.Text()[:16])
	if ok, err := tryLock(ctx, schema); err != nil || !ok {
		return "", fmt.Errorf("lock new schema %s: %v", schema, err)
	}
	if err := migrateSchema(ctx, schema); err != nil {
		unlock(ctx, schema)
		return "", err
	}
	pool.mu.Lock()
	pool.held[schema] = true
	pool.mu.Unlock()
	return schema, nil
}

// heldSchema takes one of this process's free schemas, or else locks one
// that no process holds; "" when there is none.
func heldSchema(ctx context.Context) (string, error) {
	pool.mu.Lock()
	defer pool.mu.Unlock()
	if n := len(pool.free); n > 0 {
		schema := pool.free[n-1]
		pool.free = pool.free[:n-1]
		return schema, nil
	}
	found, err := names(ctx, `SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1) AND nspname <> $2`, pool.prefix, pool.prefix+"template")
	if err != nil {
		return "", err
	}
	for _, schema := range found {
		if pool.held[schema] {
			continue
		}
		if ok, err := tryLock(ctx, schema); err == nil && ok {
			pool.held[schema] = true
			return schema, nil
		}
	}
	return "", nil
}

// empty ends the connections still on schema and empties it, after
// checking that it is at the template's migrations.
func empty(ctx context.Context, schema string) error {
	// The session pool's idle sessions are at rest, reset, and stay; it
	// is given a moment to reset those of the test before, which has
	// closed its stores.
	terminate := func(kept []int32) error {
		_, err := pool.admin.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND NOT pid = ANY($2)`, schema, kept)
		return err
	}
	var err error
	if p := sessions(); p != nil {
		err = p.settle(schema, 250*time.Millisecond, terminate)
	} else {
		err = terminate([]int32{})
	}
	if err != nil {
		return err
	}
	template := pool.prefix + "template"
	var same bool
	err = pool.admin.QueryRowContext(ctx, fmt.Sprintf(`SELECT
		(SELECT max(version_id) FROM %[1]s.goose_db_version) = (SELECT max(version_id) FROM %[2]s.goose_db_version) AND
		(SELECT count(*) FROM %[1]s.goose_db_version) = (SELECT count(*) FROM %[2]s.goose_db_version) AND
		(SELECT max(version) FROM %[1]s.river_migration) = (SELECT max(version) FROM %[2]s.river_migration)`, schema, template)).Scan(&same)
	if err != nil {
		return err
	}
	if !same {
		return fmt.Errorf("schema %s is not at the template's migrations", schema)
	}
	_, err = pool.admin.ExecContext(ctx, fmt.Sprintf(pool.reset, schema))
	return err
}

// dropHeld drops a schema this process holds and lets go of it.
func dropHeld(ctx context.Context, schema string) {
	pool.admin.ExecContext(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
	unlock(ctx, schema)
	pool.mu.Lock()
	delete(pool.held, schema)
	pool.mu.Unlock()
}

// referencingFirst orders the tables of schema so that each comes before
// every table its foreign keys reference.
func referencingFirst(ctx context.Context, schema string, tables []string) ([]string, error) {
	rows, err := pool.admin.QueryContext(ctx, `SELECT child.relname, parent.relname
		FROM pg_constraint c
		JOIN pg_class child ON child.oid = c.conrelid
		JOIN pg_class parent ON parent.oid = c.confrelid
		JOIN pg_namespace n ON n.oid = c.connamespace
		WHERE c.contype = 'f' AND n.nspname = $1 AND c.conrelid <> c.confrelid`, schema)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	referencedBy := map[string]int{} // how many tables reference each one
	references := map[string][]string{}
	for rows.Next() {
		var child, parent string
		if err := rows.Scan(&child, &parent); err != nil {
			return nil, err
		}
		referencedBy[parent]++
		references[child] = append(references[child], parent)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var order, ready []string
	for _, t := range tables {
		if referencedBy[t] == 0 {
			ready = append(ready, t)
		}
	}
	for len(ready) > 0 {
		t := ready[0]
		ready = ready[1:]
		order = append(order, t)
		for _, parent := range references[t] {
			if referencedBy[parent]--; referencedBy[parent] == 0 {
				ready = append(ready, parent)
			}
		}
	}
	if len(order) != len(tables) {
		return nil, fmt.Errorf("the foreign keys of %s form a cycle", schema)
	}
	return order, nil
}

// names runs a query of one text column and returns its values.
func names(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := pool.admin.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		out = append(out, name)
	}
	return out, rows.Err()
}

func tryLock(ctx context.Context, name string) (bool, error) {
	var ok bool
	err := pool.locks.QueryRowContext(ctx, `SELECT pg_try_advisory_lock(hashtext($1))`, name).Scan(&ok)
	return ok, err
}

func unlock(ctx context.Context, name string) {
	pool.locks.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtext($1))`, name)
}
