package store

import (
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// migrationLock returns the options that make goose hold a PostgreSQL
// session-level advisory lock while it applies migrations, so that any
// number of instances (and sapient migrate) started at once on one
// database migrate one at a time: the first applies what is pending, the
// others wait for the lock, then find nothing left to do. The lock belongs
// to the connection's session, so a process that dies while migrating
// releases it with its connection.
//
// The lock's ID is derived from the database and schema, so that
// deployments sharing a PostgreSQL server in different schemas never wait
// for each other. A waiter asks again every second, for up to ten minutes;
// waiting is called once when it has to wait at all.
//
// SQLite needs no lock of its own: Sapient runs one process per SQLite
// file, and its transactions begin IMMEDIATE.
func (s *SQL) migrationLock(ctx context.Context, waiting func()) ([]goose.ProviderOption, error) {
	if s.dialect != goose.DialectPostgres {
		return nil, nil
	}
	id, err := lockID(ctx, s.db, "sapient migrations")
	if err != nil {
		return nil, fmt.Errorf("store: migration lock: %w", err)
	}
	l, err := lock.NewPostgresSessionLocker(lock.WithLockID(id), lock.WithLockTimeout(1, 600), lock.WithUnlockTimeout(1, 60))
	if err != nil {
		return nil, fmt.Errorf("store: migration lock: %w", err)
	}
	if waiting != nil {
		l = &noticeWait{SessionLocker: l, id: id, waiting: waiting}
	}
	return []goose.ProviderOption{goose.WithSessionLocker(l)}, nil
}

// lockID is the advisory lock named name for the database and schema q
// is on: deployments (and tests) in other schemas never wait for it.
func lockID(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, name string) (int64, error) {
	var database, schema sql.NullString
	if err := q.QueryRowContext(ctx, `SELECT current_database(), current_schema()`).Scan(&database, &schema); err != nil {
		return 0, err
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%s\x00%s", name, database.String, schema.String)
	return int64(h.Sum64()), nil
}

// noticeWait is a session locker that tries the lock once before handing
// over to goose's, which retries, and calls waiting when that first try
// finds the lock held.
type noticeWait struct {
	lock.SessionLocker
	id      int64
	waiting func()
}

// SessionLock takes the lock, telling waiting when another session holds
// it.
func (n *noticeWait) SessionLock(ctx context.Context, conn *sql.Conn) error {
	var got bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, n.id).Scan(&got); err == nil && got {
		return nil // held once, released once by SessionUnlock
	}
	n.waiting()
	return n.SessionLocker.SessionLock(ctx, conn)
}
