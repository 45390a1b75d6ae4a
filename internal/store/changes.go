package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
)

// notifyChannel is the PostgreSQL channel on which a committed change is
// announced (LISTEN/NOTIFY), so that other instances need not wait for
// their next poll.
const notifyChannel = "sapient_changes"

// recordChange appends a change of kind to ref to the change log, inside
// the transaction q, and returns its position. Taking the position locks
// change_counter's row until the transaction ends, so changes commit in
// the order of their positions (see migration 5). Callers record the
// change as the last write of their transaction, to hold that lock for as
// short a time as they can.
func (s *SQL) recordChange(ctx context.Context, q queryer, kind ChangeKind, ref string) (int64, error) {
	seq, err := nextSeq(ctx, q)
	if err != nil {
		return 0, err
	}
	if _, err := q.ExecContext(ctx, s.q(`INSERT INTO changes (seq, kind, ref, at) VALUES (?, ?, ?, ?)`),
		seq, string(kind), ref, s.now().UnixMicro()); err != nil {
		return 0, fmt.Errorf("store: record change: %w", err)
	}
	if s.dialect == goose.DialectPostgres {
		// Delivered when the transaction commits, and only then.
		if _, err := q.ExecContext(ctx, `SELECT pg_notify('`+notifyChannel+`', '')`); err != nil {
			return 0, fmt.Errorf("store: record change: %w", err)
		}
	}
	return seq, nil
}

// nextSeq takes the next position of the change log, locking
// change_counter's row until q's transaction ends.
func nextSeq(ctx context.Context, q queryer) (int64, error) {
	var seq int64
	if err := q.QueryRowContext(ctx, `UPDATE change_counter SET seq = seq + 1 WHERE id = 1 RETURNING seq`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("store: record change: %w", err)
	}
	return seq, nil
}

// LastChange returns the position of the newest change, 0 when none.
func (s *SQL) LastChange(ctx context.Context) (int64, error) {
	var seq int64
	err := s.conn().QueryRowContext(ctx, `SELECT seq FROM change_counter WHERE id = 1`).Scan(&seq)
	return seq, mapErr("last change", err)
}

// ChangesAfter returns at most limit changes after position after, in
// order.
func (s *SQL) ChangesAfter(ctx context.Context, after int64, limit int) ([]Change, error) {
	rows, err := s.conn().QueryContext(ctx, s.q(`SELECT seq, kind, ref FROM changes WHERE seq > ? ORDER BY seq LIMIT ?`), after, limit)
	if err != nil {
		return nil, mapErr("read changes", err)
	}
	return collect(rows, func(row interface{ Scan(...any) error }) (Change, error) {
		var c Change
		err := row.Scan(&c.Seq, &c.Kind, &c.Ref)
		return c, err
	}, "read changes")
}

// PruneChanges forgets changes recorded before before, keeping the newest
// one so that the log's position is never lost.
func (s *SQL) PruneChanges(ctx context.Context, before time.Time) (int, error) {
	res, err := s.conn().ExecContext(ctx, s.q(`DELETE FROM changes WHERE at < ? AND seq < (SELECT seq FROM change_counter WHERE id = 1)`),
		before.UnixMicro())
	if err != nil {
		return 0, mapErr("prune changes", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// WatchChanges calls wake each time another connection commits a change,
// until ctx ends, on PostgreSQL through LISTEN on a connection of its own.
// SQLite cannot tell one process of another's commits: there it returns
// nil at once, and the caller's poll is all there is.
func (s *SQL) WatchChanges(ctx context.Context, wake func()) error {
	if s.dialect != goose.DialectPostgres {
		return nil
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: watch changes: %w", err)
	}
	defer conn.Close()
	var werr error
	conn.Raw(func(dc any) error {
		pc, ok := dc.(*stdlib.Conn)
		if !ok {
			werr = errors.New("not a pgx connection")
			return nil
		}
		c := pc.Conn()
		if _, werr = c.Exec(ctx, "LISTEN "+notifyChannel); werr == nil {
			// Whatever was committed before LISTEN took effect is the poll's.
			wake()
			for {
				if _, werr = c.WaitForNotification(ctx); werr != nil {
					break
				}
				wake()
			}
		}
		// The connection is still listening, or was interrupted mid-wait:
		// it goes back to no pool.
		return driver.ErrBadConn
	})
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("store: watch changes: %w", werr)
}
