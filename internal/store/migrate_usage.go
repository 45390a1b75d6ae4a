package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/pressly/goose/v3"
)

// usageByHour is migration 4: usage_hourly keyed by (hour, client_id)
// instead of (client_id, hour), and on SQLite stored in that key's order
// (WITHOUT ROWID), so that the rows of one hour lie together; and
// usage_pending, where usage waits to be folded into it.
//
// A usage flush updates the rows of the current hour. Keyed by client
// first, each credential's rows of every hour kept (400 days by default)
// sit side by side, so the current hour's rows are spread over the whole
// table and nearly every row a flush writes is a page of its own; in a
// rowid table even sorted writes land on pages in no order at all. Keyed
// by hour, the current hour is one run of pages at the end of the table,
// which a sorted flush walks in order, and a new hour is appended there.
// The index on (client_id, hour) serves the reads by credential; the one
// on hour alone is gone, the key serves it.
//
// It is written in Go because WITHOUT ROWID is SQLite's alone; the rest
// is the same on both backends.
func usageByHour(dialect goose.Dialect) *goose.Migration {
	withoutRowID := ""
	if dialect != goose.DialectPostgres {
		withoutRowID = " WITHOUT ROWID"
	}
	// table creates a table of usage buckets, with a primary key where key
	// names one: usage_hourly_new, and usage_pending (see SQL.AddUsage),
	// which has no key and no index.
	table := func(name, key string) string {
		pk := ""
		if key != "" {
			pk = ", PRIMARY KEY (" + key + ")"
		}
		return `CREATE TABLE ` + name + ` (
			client_id      TEXT NOT NULL,
			hour           BIGINT NOT NULL,
			org_id         TEXT NOT NULL,
			tokens_issued  BIGINT NOT NULL DEFAULT 0,
			tokens_refused BIGINT NOT NULL DEFAULT 0,
			api_calls      BIGINT NOT NULL DEFAULT 0,
			api_refused    BIGINT NOT NULL DEFAULT 0,
			last_used_at   BIGINT,
			last_used_ip   TEXT NOT NULL DEFAULT ''` + pk + `)`
	}
	// rebuild runs the statements before, copies the rows, in the new key's
	// order, into a table with that key, puts it in the old one's place,
	// and runs the statements after.
	rebuild := func(key, options string, before, after []string) func(ctx context.Context, tx *sql.Tx) error {
		stmts := append(before,
			table("usage_hourly_new", key)+options,
			`INSERT INTO usage_hourly_new (`+usageColumns+`) SELECT `+usageColumns+` FROM usage_hourly ORDER BY `+key,
			`DROP TABLE usage_hourly`,
			`ALTER TABLE usage_hourly_new RENAME TO usage_hourly`,
		)
		if dialect == goose.DialectPostgres { // the key's index keeps the name it was created with
			stmts = append(stmts, `ALTER INDEX usage_hourly_new_pkey RENAME TO usage_hourly_pkey`)
		}
		stmts = append(stmts, after...)
		return func(ctx context.Context, tx *sql.Tx) error {
			for _, stmt := range stmts {
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("usage by hour: %w", err)
				}
			}
			return nil
		}
	}
	return goose.NewGoMigration(4,
		&goose.GoFunc{RunTx: rebuild("hour, client_id", withoutRowID, nil, []string{
			`CREATE INDEX usage_hourly_client ON usage_hourly (client_id, hour)`,
			`CREATE INDEX usage_hourly_org ON usage_hourly (org_id, hour)`,
			table("usage_pending", ""),
		})},
		// Down folds what waits into usage_hourly first.
		&goose.GoFunc{RunTx: rebuild("client_id, hour", "", append(foldStatements(dialect), `DROP TABLE usage_pending`), []string{
			`CREATE INDEX usage_hourly_org ON usage_hourly (org_id, hour)`,
			`CREATE INDEX usage_hourly_hour ON usage_hourly (hour)`,
		})},
	)
}
