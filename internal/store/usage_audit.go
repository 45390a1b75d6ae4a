package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pressly/goose/v3"
)

// usageBatch is how many buckets one INSERT writes: 9 parameters each,
// well under SQLite's and PostgreSQL's limits on parameters.
const usageBatch = 200

// foldEvery is how long usage waits in usage_pending, at most, before a
// write folds it into usage_hourly; reads add it to what they read.
const foldEvery = 30 * time.Second

// AddUsage adds counts to the hourly buckets, and moves their last use
// forward. It appends the buckets, as they are, to usage_pending, a table
// with no index, whose new rows fill its last pages one after the other:
// a usage flush writes each second the buckets of thousands of
// credentials, and updating their rows of usage_hourly in place cost a
// page written per row once a million credentials had theirs (see
// docs/BENCHMARKS.md). At most every foldEvery, and before retention
// pruning, FoldUsage adds what waits there to usage_hourly in one sorted
// pass, in which the rows of many flushes share their pages; reads add
// what waits to what they read. The buckets are not changed or reordered.
func (s *SQL) AddUsage(ctx context.Context, buckets []UsageBucket) error {
	if len(buckets) == 0 {
		return nil
	}
	full, err := s.appendUsageStmt(ctx)
	if err != nil {
		return err
	}
	err = s.usageTx(ctx, func(tx queryer) error {
		args := make([]any, 0, 9*min(len(buckets), usageBatch))
		for rest := buckets; len(rest) > 0; {
			n := min(len(rest), usageBatch)
			args = args[:0]
			for _, b := range rest[:n] {
				ip := b.LastUsedIP
				if b.LastUsedAt.IsZero() {
					ip = ""
				}
				args = append(args, b.ClientID, b.Hour.UTC().Truncate(time.Hour).UnixMicro(), b.OrgID,
					b.TokensIssued, b.TokensRefused, b.APICalls, b.APIRefused, micros(b.LastUsedAt), ip)
			}
			var err error
			if n == usageBatch { // usageTx always hands over a *sql.Tx
				_, err = tx.(*sql.Tx).StmtContext(ctx, full).ExecContext(ctx, args...)
			} else {
				_, err = tx.ExecContext(ctx, s.q(appendUsageQuery(n)), args...)
			}
			if err != nil {
				return mapErr("add usage", err)
			}
			rest = rest[n:]
		}
		return nil
	})
	if err != nil || s.tx != nil {
		return err
	}
	// The buckets are stored; a fold that fails leaves them waiting for
	// the next one, and is no failure of this call.
	if f := &s.shared.fold; f.due(time.Now()) {
		if err := s.FoldUsage(ctx); err != nil {
			f.retry()
		}
	}
	return nil
}

// folding records when the last fold began, so that a write folds at most
// every foldEvery.
type folding struct {
	last atomic.Int64 // Unix nanoseconds; 0 before the first
}

// due reports whether a fold should begin now, and if so claims it: of
// writes that find it due at once, one folds.
func (f *folding) due(now time.Time) bool {
	last := f.last.Load()
	if last == 0 { // the first write after start: count from it
		f.last.CompareAndSwap(0, now.UnixNano())
		return false
	}
	return now.UnixNano()-last >= int64(foldEvery) && f.last.CompareAndSwap(last, now.UnixNano())
}

// retry makes the next write fold again.
func (f *folding) retry() { f.last.Store(1) }

// FoldUsage moves what waits in usage_pending into usage_hourly, in one
// transaction: summed per credential and hour, in key order, the latest
// last use winning; then empties usage_pending. When nothing waits, it
// only reads. A write calls it at most every foldEvery, and PruneUsage
// before it deletes; reads never do, as they add what waits to what they
// read (see usageSums). Tools that measure what writing usage costs (the
// bench) call it too, rather than leave a fold to whichever write comes
// next.
func (s *SQL) FoldUsage(ctx context.Context) error {
	return s.fold(ctx, nil)
}

// fold is FoldUsage; hold, when set, is called inside the fold's
// transaction once its statements ran, before it commits.
func (s *SQL) fold(ctx context.Context, hold func()) error {
	var waiting bool
	if err := s.conn().QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM usage_pending)`).Scan(&waiting); err != nil {
		return mapErr("fold usage", err)
	}
	if !waiting {
		return nil
	}
	return s.usageTx(ctx, func(tx queryer) error {
		for _, stmt := range foldStatements(s.dialect) {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return mapErr("fold usage", err)
			}
		}
		if hold != nil {
			hold()
		}
		return nil
	})
}

// foldStatements returns the statements of a fold, run in one transaction.
func foldStatements(dialect goose.Dialect) []string {
	if dialect == goose.DialectPostgres {
		// Rows another instance folds meanwhile are not counted twice:
		// DELETE waits for that transaction, then skips them.
		return []string{`WITH moved AS (DELETE FROM usage_pending RETURNING *)
			INSERT INTO usage_hourly (` + usageColumns + `)
			SELECT ` + usageSums(dialect) + `
			FROM moved GROUP BY hour, client_id ORDER BY hour, client_id` + addUsageConflict}
	}
	// The transaction began with the write lock (_txlock=immediate), so no
	// row is appended between the two statements.
	return []string{`INSERT INTO usage_hourly (` + usageColumns + `)
		SELECT ` + usageSums(dialect) + `
		FROM usage_pending WHERE true GROUP BY hour, client_id ORDER BY hour, client_id` + addUsageConflict,
		`DELETE FROM usage_pending`}
}

// usageSums is the select list, in the order of usageColumns, that sums
// rows of usage grouped by hour and client_id: the counts added, the
// latest last use winning with its address. A fold writes it into
// usage_hourly; a read sums usage_hourly and usage_pending with it, so
// that reads are exact without folding.
func usageSums(dialect goose.Dialect) string {
	const sums = `sum(tokens_issued), sum(tokens_refused), sum(api_calls), sum(api_refused), max(last_used_at)`
	if dialect == goose.DialectPostgres {
		return `client_id, hour, min(org_id), ` + sums +
			`, coalesce((array_agg(last_used_ip ORDER BY last_used_at DESC NULLS LAST))[1], '')`
	}
	// SQLite: with one max() among the aggregates, the bare column
	// last_used_ip comes from the row that holds the latest last use (and
	// org_id, the same on every row of a credential, from any).
	return `client_id, hour, org_id, ` + sums + `, last_used_ip`
}

// HoldFold begins a fold of what waits in usage_pending and holds its
// transaction open, its statements run, until release is called; release
// commits it and returns the fold's error. It is for tests that show what
// waits for a fold and what does not; nothing waiting is an error.
func (s *SQL) HoldFold(ctx context.Context) (release func() error, err error) {
	var waiting bool
	if err := s.conn().QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM usage_pending)`).Scan(&waiting); err != nil {
		return nil, mapErr("hold fold", err)
	}
	if !waiting {
		return nil, errors.New("store: hold fold: no usage waits to be folded")
	}
	held, proceed, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- s.fold(ctx, func() {
			close(held)
			<-proceed
		})
	}()
	select {
	case <-held:
	case err := <-done:
		return nil, fmt.Errorf("store: hold fold: %w", err)
	}
	return func() error {
		close(proceed)
		return <-done
	}, nil
}

// PendingUsage counts the rows that wait in usage_pending for a fold, for
// tests and tools.
func (s *SQL) PendingUsage(ctx context.Context) (int, error) {
	var n int
	err := s.conn().QueryRowContext(ctx, `SELECT count(*) FROM usage_pending`).Scan(&n)
	return n, mapErr("count pending usage", err)
}

// SingleWriter reports whether the database lets one transaction write at
// a time (SQLite), so that a write waits for a fold in progress, as for
// any other write; reads never wait for one.
func (s *SQL) SingleWriter() bool { return s.dialect != goose.DialectPostgres }

// appendUsageStmt returns the INSERT of a full batch, prepared once:
// parsing a 200-row statement costs SQLite about a third as much as
// executing it. A preparation that fails (the database did not answer) is
// tried again by the next call.
func (s *SQL) appendUsageStmt(ctx context.Context) (*sql.Stmt, error) {
	p := s.shared
	p.appendUsageMu.Lock()
	defer p.appendUsageMu.Unlock()
	if p.appendUsage == nil {
		st, err := s.db.PrepareContext(context.WithoutCancel(ctx), s.q(appendUsageQuery(usageBatch)))
		if err != nil {
			return nil, fmt.Errorf("store: prepare add usage: %w", err)
		}
		p.appendUsage = st
	}
	return p.appendUsage, nil
}

const usageColumns = `client_id, hour, org_id, tokens_issued, tokens_refused, api_calls, api_refused, last_used_at, last_used_ip`

// appendUsageQuery builds the INSERT of n buckets into usage_pending.
func appendUsageQuery(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO usage_pending (` + usageColumns + `) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?)")
	}
	return b.String()
}

// addUsageConflict adds a folded bucket to the row of its credential and
// hour. The last use moves forward only: the later time wins, with its
// address. Both assignments read the row as it was; CASE, unlike max(a, b)
// or GREATEST, means the same on SQLite and PostgreSQL, and a NULL new
// time never wins.
const addUsageConflict = `
	ON CONFLICT (hour, client_id) DO UPDATE SET
	tokens_issued = usage_hourly.tokens_issued + excluded.tokens_issued,
	tokens_refused = usage_hourly.tokens_refused + excluded.tokens_refused,
	api_calls = usage_hourly.api_calls + excluded.api_calls,
	api_refused = usage_hourly.api_refused + excluded.api_refused,
	last_used_at = CASE WHEN excluded.last_used_at > usage_hourly.last_used_at OR usage_hourly.last_used_at IS NULL
		THEN excluded.last_used_at ELSE usage_hourly.last_used_at END,
	last_used_ip = CASE WHEN excluded.last_used_at > usage_hourly.last_used_at OR usage_hourly.last_used_at IS NULL
		THEN excluded.last_used_ip ELSE usage_hourly.last_used_ip END`

// ListUsage returns buckets in time order, then by client ID. It reads
// usage_hourly and the rows that wait in usage_pending together, summed
// as a fold would sum them: exact to the last flush, without the write a
// fold is. On SQLite it takes no lock that a writer holds.
func (s *SQL) ListUsage(ctx context.Context, f UsageFilter) ([]UsageBucket, error) {
	where := ` WHERE 1 = 1`
	var args []any
	if f.OrgID != "" {
		where += ` AND org_id = ?`
		args = append(args, f.OrgID)
	}
	if f.ClientID != "" {
		where += ` AND client_id = ?`
		args = append(args, f.ClientID)
	}
	if !f.From.IsZero() {
		where += ` AND hour >= ?`
		args = append(args, f.From.UnixMicro())
	}
	if !f.To.IsZero() {
		where += ` AND hour < ?`
		args = append(args, f.To.UnixMicro())
	}
	query := `SELECT ` + usageSums(s.dialect) + ` FROM (
		SELECT ` + usageColumns + ` FROM usage_hourly` + where + `
		UNION ALL
		SELECT ` + usageColumns + ` FROM usage_pending` + where + `
	) u GROUP BY hour, client_id ORDER BY hour, client_id`
	rows, err := s.conn().QueryContext(ctx, s.q(query), append(args, args...)...)
	if err != nil {
		return nil, mapErr("list usage", err)
	}
	return collect(rows, func(row interface{ Scan(...any) error }) (UsageBucket, error) {
		var (
			b              UsageBucket
			hour, lastUsed sql.NullInt64
		)
		err := row.Scan(&b.ClientID, &hour, &b.OrgID, &b.TokensIssued, &b.TokensRefused, &b.APICalls, &b.APIRefused,
			&lastUsed, &b.LastUsedIP)
		b.Hour, b.LastUsedAt = fromMicros(hour), fromMicros(lastUsed)
		return b, err
	}, "list usage")
}

// keepPrunedLastUse copies into each credential the latest last use of its
// usage rows before the hour given (the parameter, four times), where it
// is later than the credential's own. The credentials to change are found
// from the usage rows to be deleted (a range of the key), not by visiting
// every credential. updated_at stays: last use is no change that other
// instances poll for.
const keepPrunedLastUse = `UPDATE credentials SET
	last_used_at = (SELECT u.last_used_at FROM usage_hourly u
		WHERE u.client_id = credentials.client_id AND u.hour < ? AND u.last_used_at IS NOT NULL
		ORDER BY u.last_used_at DESC LIMIT 1),
	last_used_ip = (SELECT u.last_used_ip FROM usage_hourly u
		WHERE u.client_id = credentials.client_id AND u.hour < ? AND u.last_used_at IS NOT NULL
		ORDER BY u.last_used_at DESC LIMIT 1)
	WHERE client_id IN (SELECT u.client_id FROM usage_hourly u WHERE u.hour < ? AND u.last_used_at IS NOT NULL)
	AND (last_used_at IS NULL OR last_used_at < (SELECT max(u.last_used_at) FROM usage_hourly u
		WHERE u.client_id = credentials.client_id AND u.hour < ?))`

// PruneUsage deletes buckets of hours before t, keeping the latest last use
// they hold with the credential, in one transaction.
func (s *SQL) PruneUsage(ctx context.Context, before time.Time) (int, error) {
	if err := s.FoldUsage(ctx); err != nil {
		return 0, err
	}
	var n int64
	err := s.inTx(ctx, func(tx queryer) error {
		h := before.UnixMicro()
		if _, err := tx.ExecContext(ctx, s.q(keepPrunedLastUse), h, h, h, h); err != nil {
			return mapErr("prune usage", err)
		}
		res, err := tx.ExecContext(ctx, s.q(`DELETE FROM usage_hourly WHERE hour < ?`), h)
		if err != nil {
			return mapErr("prune usage", err)
		}
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM usage_routes WHERE hour < ?`), h); err != nil {
			return mapErr("prune usage", err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return int(n), err
}

const auditColumns = `id, at, org_id, actor_kind, actor_id, actor_label, action, target, ip, user_agent, detail`

// AppendAudit records an event; inside InTx it commits with the change.
func (s *SQL) AppendAudit(ctx context.Context, e AuditEvent) error {
	if hook := s.auditHook(); hook != nil {
		return s.InTx(ctx, func(st Store) error {
			tx := st.(*SQL)
			if err := tx.appendAudit(ctx, e); err != nil {
				return err
			}
			return hook(ctx, tx.tx, tx, e)
		})
	}
	return s.appendAudit(ctx, e)
}

func (s *SQL) appendAudit(ctx context.Context, e AuditEvent) error {
	_, err := s.conn().ExecContext(ctx, s.q(`INSERT INTO audit_events (`+auditColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		e.ID, e.At.UnixMicro(), e.OrgID, e.ActorKind, e.ActorID, e.ActorLabel, e.Action, e.Target, e.IP, e.UserAgent, e.Detail)
	return mapErr("append audit event", err)
}

// ListAudit returns events newest first.
func (s *SQL) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error) {
	query := `SELECT ` + auditColumns + ` FROM audit_events WHERE 1 = 1`
	var args []any
	if f.OrgID != "" {
		query += ` AND org_id = ?`
		args = append(args, f.OrgID)
	}
	if f.Action != "" {
		query += ` AND action = ?`
		args = append(args, f.Action)
	}
	if !f.From.IsZero() {
		query += ` AND at >= ?`
		args = append(args, f.From.UnixMicro())
	}
	if !f.To.IsZero() {
		query += ` AND at < ?`
		args = append(args, f.To.UnixMicro())
	}
	switch {
	case !f.Before.IsZero() && f.BeforeID != "":
		query += ` AND (at < ? OR (at = ? AND id < ?))`
		args = append(args, f.Before.UnixMicro(), f.Before.UnixMicro(), f.BeforeID)
	case !f.Before.IsZero():
		query += ` AND at < ?`
		args = append(args, f.Before.UnixMicro())
	}
	limit := f.Limit
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	query += ` ORDER BY at DESC, id DESC LIMIT ?`
	args = append(args, limit)
	rows, err := s.conn().QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, mapErr("list audit events", err)
	}
	return collect(rows, func(row interface{ Scan(...any) error }) (AuditEvent, error) {
		var (
			e  AuditEvent
			at sql.NullInt64
		)
		err := row.Scan(&e.ID, &at, &e.OrgID, &e.ActorKind, &e.ActorID, &e.ActorLabel, &e.Action, &e.Target, &e.IP, &e.UserAgent, &e.Detail)
		e.At = fromMicros(at)
		return e, err
	}, "list audit events")
}

// PruneAudit deletes events older than t.
func (s *SQL) PruneAudit(ctx context.Context, before time.Time) (int, error) {
	res, err := s.conn().ExecContext(ctx, s.q(`DELETE FROM audit_events WHERE at < ?`), before.UnixMicro())
	if err != nil {
		return 0, mapErr("prune audit events", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
