package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
)

// AuditHook runs inside the transaction of every audit event appended:
// tx is that transaction, and s the store whose calls are part of it. Its
// error aborts the transaction, and with it the change the event records.
// The webhook queue uses it to enqueue the events that an audit event
// reports in the same transaction as the change.
type AuditHook func(ctx context.Context, tx *sql.Tx, s Store, e AuditEvent) error

// Queue is what a job queue built on the store needs: its database handle
// and a hook on the audit trail.
type Queue interface {
	// QueueDriver returns River's driver for this database; jobs inserted
	// with a transaction of InTx's store (see AuditHook) commit with it.
	QueueDriver() riverdriver.Driver[*sql.Tx]
	// HookAudit sets the hook run in the transaction of every audit event
	// appended through this store and every store InTx derives from it;
	// nil removes it.
	HookAudit(h AuditHook)
}

// QueueDriver returns River's driver on the store's connection pool:
// riversqlite for SQLite, riverdatabasesql (over the pgx pool) for
// PostgreSQL. Both take *sql.Tx, so the queue inserts jobs in the
// store's own transactions.
func (s *SQL) QueueDriver() riverdriver.Driver[*sql.Tx] {
	if s.dialect == goose.DialectPostgres {
		return riverdatabasesql.New(s.db)
	}
	return riversqlite.New(s.db)
}

// HookAudit sets the audit hook (see Queue).
func (s *SQL) HookAudit(h AuditHook) {
	s.shared.hookMu.Lock()
	s.shared.hook = h
	s.shared.hookMu.Unlock()
}

func (s *SQL) auditHook() AuditHook {
	s.shared.hookMu.RLock()
	defer s.shared.hookMu.RUnlock()
	return s.shared.hook
}

// migrateQueue applies River's own migrations. Each runs in a
// transaction of its own (on PostgreSQL one adds an enum value that the
// next uses, which one transaction cannot do); on PostgreSQL a session
// advisory lock of the database and schema, held on a connection of its
// own, makes instances started at once apply them one at a time.
func (s *SQL) migrateQueue(ctx context.Context) error {
	m, err := rivermigrate.New(s.QueueDriver(), nil)
	if err != nil {
		return fmt.Errorf("store: queue migrations: %w", err)
	}
	if s.dialect == goose.DialectPostgres {
		conn, err := s.db.Conn(ctx)
		if err != nil {
			return fmt.Errorf("store: queue migrations: %w", err)
		}
		defer conn.Close()
		id, err := lockID(ctx, conn, "sapient queue migrations")
		if err != nil {
			return fmt.Errorf("store: queue migrations: %w", err)
		}
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, id); err != nil {
			return fmt.Errorf("store: queue migrations: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, id)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("store: queue migrations: %w", err)
	}
	return nil
}
