package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
)

// SQL implements Store on database/sql for SQLite and PostgreSQL.
type SQL struct {
	db        *sql.DB
	tx        *sql.Tx // set on the copy InTx hands to its function
	dialect   goose.Dialect
	forUpdate string // row lock clause for read-modify-write transactions
	// forUpdateCredential locks only the credential (c) of a read joined
	// with its usage: PostgreSQL locks no row of an outer join's nullable side.
	forUpdateCredential string
	queries             *sync.Map
	shared              *shared
	// now stamps UpdatedAt and the change log's entries; they are for
	// people to read, never for instances to order changes by.
	now func() time.Time
}

// shared is what every copy of the store that InTx makes shares: a
// statement prepared once, on first use, the usage writes' own connection
// and when usage was last folded.
type shared struct {
	appendUsageMu sync.Mutex
	appendUsage   *sql.Stmt // nil until prepared
	usage         usageConn
	fold          folding
	hookMu        sync.RWMutex
	hook          AuditHook // see HookAudit
}

var _ Store = (*SQL)(nil)

func newSQL(db *sql.DB, dialect goose.Dialect) *SQL {
	s := &SQL{db: db, dialect: dialect, queries: &sync.Map{}, shared: &shared{}, now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}
	if dialect == goose.DialectPostgres {
		s.forUpdate = " FOR UPDATE"
		s.forUpdateCredential = " FOR UPDATE OF c"
	}
	return s
}

// DB exposes the underlying handle for tests and tools.
func (s *SQL) DB() *sql.DB { return s.db }

// q returns the query in the placeholder syntax of the backend.
func (s *SQL) q(query string) string {
	if s.dialect != goose.DialectPostgres {
		return query
	}
	if v, ok := s.queries.Load(query); ok {
		return v.(string)
	}
	r := rebind(query)
	s.queries.Store(query, r)
	return r
}

// Ping checks that the database answers.
func (s *SQL) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// Close releases the prepared statement and the connections.
func (s *SQL) Close() error {
	s.shared.appendUsageMu.Lock()
	if st := s.shared.appendUsage; st != nil {
		st.Close()
	}
	s.shared.appendUsageMu.Unlock()
	s.shared.usage.close()
	return s.db.Close()
}

// queryer is what *sql.DB and *sql.Tx share.
type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}

// conn is the transaction when there is one, else the pool.
func (s *SQL) conn() queryer {
	if s.tx != nil {
		return s.tx
	}
	return s.db
}

// InTx runs fn with a Store whose every call is part of one transaction,
// committed when fn returns nil and rolled back otherwise. Calls nest: InTx
// inside InTx joins the outer transaction.
func (s *SQL) InTx(ctx context.Context, fn func(Store) error) error {
	return s.inTx(ctx, func(q queryer) error {
		if s.tx != nil {
			return fn(s)
		}
		child := *s
		child.tx = q.(*sql.Tx)
		return fn(&child)
	})
}

// mapErr turns driver errors callers branch on into sentinel errors.
func mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return fmt.Errorf("%w: %s", ErrAlreadyExists, op)
	}
	var sqliteErr *sqlite.Error
	if errors.As(err, &sqliteErr) {
		switch sqliteErr.Code() {
		case 2067, 1555: // SQLITE_CONSTRAINT_UNIQUE, SQLITE_CONSTRAINT_PRIMARYKEY
			return fmt.Errorf("%w: %s", ErrAlreadyExists, op)
		}
	}
	return fmt.Errorf("store: %s: %w", op, err)
}

// inTx runs fn in a transaction and commits it when fn returns nil. Inside
// a transaction already, fn joins it.
func (s *SQL) inTx(ctx context.Context, fn func(q queryer) error) error {
	if s.tx != nil {
		return fn(s.tx)
	}
	return runTx(ctx, s.db, fn)
}

// runTx runs fn in a transaction begun on db (the pool, or one connection
// of it) and commits it when fn returns nil.
func runTx(ctx context.Context, db interface {
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}, fn func(q queryer) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// micros stores a time as Unix microseconds; the zero time is NULL.
func micros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// fromMicros is the inverse of micros.
func fromMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}

func joinScopes(scopes []string) string { return strings.Join(scopes, " ") }

func splitScopes(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Fields(s)
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// collect scans every row with scan.
func collect[T any](rows *sql.Rows, scan func(interface{ Scan(...any) error }) (T, error), op string) ([]T, error) {
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, mapErr(op, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(op, err)
	}
	return out, nil
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}
