package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/pressly/goose/v3"

	"sapient.dev/sapient/internal/name"
)

// nameKeys is migration 6: credentials and organisations get a name_key
// column, name.Key of the name, and are held unique by it instead of by
// lower(name). lower() folds only ASCII letters on SQLite (and depends on
// the locale on PostgreSQL), so "Café" and "café", "a-full" and the
// full-width "ａ-full" could stand side by side; name.Key folds case and
// width the same way on both databases.
//
// It is written in Go because the keys are computed by package name. Names
// stored before it that share a key (they were accepted as different) keep
// working: the oldest keeps the key, each later one gets its key followed
// by U+001F and its ID, which no new name can have, so a new name like
// any of them is refused.
func nameKeys() *goose.Migration {
	up := []string{
		`ALTER TABLE credentials ADD COLUMN name_key TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE orgs ADD COLUMN name_key TEXT NOT NULL DEFAULT ''`,
		// The key of most names is their lower case: set it for every row
		// at once, and then correct the rows whose key differs.
		`UPDATE credentials SET name_key = lower(name)`,
		`UPDATE orgs SET name_key = lower(name)`,
	}
	indexes := []string{
		`DROP INDEX credentials_active_name`,
		`CREATE UNIQUE INDEX credentials_active_name_key ON credentials (org_id, name_key) WHERE revoked_at IS NULL`,
		`DROP INDEX orgs_name`,
		`CREATE UNIQUE INDEX orgs_name_key ON orgs (name_key)`,
	}
	down := []string{
		`DROP INDEX credentials_active_name_key`,
		`DROP INDEX orgs_name_key`,
		`ALTER TABLE credentials DROP COLUMN name_key`,
		`ALTER TABLE orgs DROP COLUMN name_key`,
		`CREATE UNIQUE INDEX credentials_active_name ON credentials (org_id, lower(name)) WHERE revoked_at IS NULL`,
		`CREATE UNIQUE INDEX orgs_name ON orgs (lower(name))`,
	}
	return goose.NewGoMigration(6,
		&goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
			if err := execAll(ctx, tx, up); err != nil {
				return err
			}
			if err := fillNameKeys(ctx, tx,
				`SELECT client_id, org_id, name, name_key, revoked_at FROM credentials ORDER BY created_at, client_id`,
				`UPDATE credentials SET name_key = $1 WHERE client_id = $2`); err != nil {
				return err
			}
			if err := fillNameKeys(ctx, tx,
				`SELECT id, '', name, name_key, NULL FROM orgs ORDER BY created_at, id`,
				`UPDATE orgs SET name_key = $1 WHERE id = $2`); err != nil {
				return err
			}
			return execAll(ctx, tx, indexes)
		}},
		&goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error { return execAll(ctx, tx, down) }},
	)
}

// fillNameKeys sets the name key of every row that query reads (ID, the
// scope of uniqueness, name, name key so far, and a value that is NULL
// when the row is held unique), oldest first, with update where the key
// differs.
func fillNameKeys(ctx context.Context, tx *sql.Tx, query, update string) error {
	type row struct{ id, key string }
	var rows []row // to update
	taken := map[[2]string]bool{}
	r, err := tx.QueryContext(ctx, query)
	if err != nil {
		return fmt.Errorf("name keys: %w", err)
	}
	for r.Next() {
		var (
			id, scope, n, had string
			exempt            sql.NullInt64
		)
		if err := r.Scan(&id, &scope, &n, &had, &exempt); err != nil {
			r.Close()
			return fmt.Errorf("name keys: %w", err)
		}
		key := name.Key(n)
		if !exempt.Valid {
			if taken[[2]string{scope, key}] {
				key += "\x1f" + id
			}
			taken[[2]string{scope, key}] = true
		}
		if key != had {
			rows = append(rows, row{id, key})
		}
	}
	if err := r.Close(); err != nil {
		return fmt.Errorf("name keys: %w", err)
	}
	if err := r.Err(); err != nil {
		return fmt.Errorf("name keys: %w", err)
	}
	stmt, err := tx.PrepareContext(ctx, update)
	if err != nil {
		return fmt.Errorf("name keys: %w", err)
	}
	defer stmt.Close()
	for _, row := range rows {
		if _, err := stmt.ExecContext(ctx, row.key, row.id); err != nil {
			return fmt.Errorf("name keys: %w", err)
		}
	}
	return nil
}

// execAll runs statements in order.
func execAll(ctx context.Context, tx *sql.Tx, stmts []string) error {
	for _, stmt := range stmts {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("name keys: %w", err)
		}
	}
	return nil
}
