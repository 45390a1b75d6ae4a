package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"

	"github.com/pressly/goose/v3"
)

// usageCacheKiB is the page cache of the usage writes' connection, which
// also bounds the memory of a fold's sort before it spills to temporary
// files: at its peak a fold holds about three times this. A fold of
// 450,000 waiting rows into a million took as long with 2, 4, 8 or 16 MiB
// (3.7–4.3 s), and its process peaked at 22, 30, 46 and 79 MB.
const usageCacheKiB = 4 << 10

// usageConn is the one SQLite connection that usage writes (appends and
// folds) go through, with a page cache of its own. SQLite empties a
// connection's page cache whenever another connection has written since
// it last read; the pool handed each write whichever connection was free,
// so every write began cold and read the pages it updates again. A
// connection that only writes usage keeps its pages from one write to the
// next; only other writes, which are rare, empty them. It also serialises
// this process's appends and folds.
type usageConn struct {
	mu   sync.Mutex
	conn *sql.Conn
}

// usageTx runs fn in a transaction of the usage connection on SQLite, and
// of the pool on PostgreSQL, whose cache is the server's; inside InTx it
// joins that transaction.
func (s *SQL) usageTx(ctx context.Context, fn func(q queryer) error) error {
	if s.tx != nil || s.dialect == goose.DialectPostgres {
		return s.inTx(ctx, fn)
	}
	u := &s.shared.usage
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.conn == nil {
		c, err := s.db.Conn(ctx)
		if err != nil {
			return fmt.Errorf("store: usage connection: %w", err)
		}
		// A fold sorts what waits by key: beyond the page cache, in
		// temporary files rather than in memory.
		if _, err := c.ExecContext(ctx, fmt.Sprintf("PRAGMA cache_size = -%d; PRAGMA temp_store = FILE", usageCacheKiB)); err != nil {
			c.Close()
			return fmt.Errorf("store: usage connection: %w", err)
		}
		u.conn = c
	}
	err := runTx(ctx, u.conn, fn)
	if err != nil {
		u.drop() // the next flush starts on a fresh connection, whatever went wrong with this one
	}
	return err
}

// close releases the usage connection, if there is one.
func (u *usageConn) close() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.drop()
}

// drop releases the connection, if there is one; the caller holds u.mu.
func (u *usageConn) drop() {
	if u.conn != nil {
		u.conn.Close()
		u.conn = nil
	}
}
