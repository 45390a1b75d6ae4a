package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"
)

// usageBatch is how many buckets one INSERT writes: 9 parameters each,
// well under SQLite's and PostgreSQL's limits on parameters.
const usageBatch = 200

// AddUsage adds counts to the hourly buckets, and moves their last use
// forward, in one transaction, with one multi-row INSERT … ON CONFLICT DO
// UPDATE per batch of buckets. This one write per credential and hour is
// all a usage flush costs: the credentials table is not written. It sorts
// buckets in place (a usage flush hands over thousands a second, which a
// copy would only add to the garbage); their contents stay as given.
func (s *SQL) AddUsage(ctx context.Context, buckets []UsageBucket) error {
	if len(buckets) == 0 {
		return nil
	}
	// In key order (hour, then client): each page of the hour's run of
	// rows is visited once, in turn, rather than at random (with a million
	// credentials the flush writes thousands of scattered rows a second);
	// and on PostgreSQL two instances flushing the same buckets lock them
	// in the same order, so never deadlock.
	for i := range buckets {
		buckets[i].Hour = buckets[i].Hour.UTC().Truncate(time.Hour)
	}
	slices.SortFunc(buckets, func(a, b UsageBucket) int {
		return cmp.Or(a.Hour.Compare(b.Hour), strings.Compare(a.ClientID, b.ClientID))
	})
	merged := mergeUsage(buckets)
	full, err := s.addUsageStmt(ctx)
	if err != nil {
		return err
	}
	return s.usageTx(ctx, func(tx queryer) error {
		args := make([]any, 0, 9*min(len(merged), usageBatch))
		for len(merged) > 0 {
			n := min(len(merged), usageBatch)
			args = args[:0]
			for _, b := range merged[:n] {
				ip := b.LastUsedIP
				if b.LastUsedAt.IsZero() {
					ip = ""
				}
				args = append(args, b.ClientID, b.Hour.UnixMicro(), b.OrgID,
					b.TokensIssued, b.TokensRefused, b.APICalls, b.APIRefused, micros(b.LastUsedAt), ip)
			}
			var err error
			if n == usageBatch { // usageTx always hands over a *sql.Tx
				_, err = tx.(*sql.Tx).StmtContext(ctx, full).ExecContext(ctx, args...)
			} else {
				_, err = tx.ExecContext(ctx, s.q(addUsageQuery(n)), args...)
			}
			if err != nil {
				return mapErr("add usage", err)
			}
			merged = merged[n:]
		}
		return nil
	})
}

// mergeUsage returns sorted buckets with one bucket per (client, hour):
// PostgreSQL refuses an ON CONFLICT DO UPDATE that would touch a row twice.
// Without repeats (a usage flush has none) it returns sorted itself.
func mergeUsage(sorted []UsageBucket) []UsageBucket {
	same := func(a, b *UsageBucket) bool { return a.ClientID == b.ClientID && a.Hour.Equal(b.Hour) }
	i := 1
	for i < len(sorted) && !same(&sorted[i-1], &sorted[i]) {
		i++
	}
	if i == len(sorted) {
		return sorted
	}
	merged := slices.Clone(sorted[:i])
	for _, b := range sorted[i:] {
		if m := &merged[len(merged)-1]; same(m, &b) {
			m.Add(b)
		} else {
			merged = append(merged, b)
		}
	}
	return merged
}

// addUsageStmt returns the INSERT of a full batch, prepared once: parsing
// a 200-row statement costs SQLite about a third as much as executing it.
func (s *SQL) addUsageStmt(ctx context.Context) (*sql.Stmt, error) {
	p := s.shared
	p.addUsageOnce.Do(func() {
		p.addUsage, p.addUsageErr = s.db.PrepareContext(context.WithoutCancel(ctx), s.q(addUsageQuery(usageBatch)))
	})
	if p.addUsageErr != nil {
		return nil, fmt.Errorf("store: prepare add usage: %w", p.addUsageErr)
	}
	return p.addUsage, nil
}

// addUsageQuery builds the INSERT of n buckets.
func addUsageQuery(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO usage_hourly
		(client_id, hour, org_id, tokens_issued, tokens_refused, api_calls, api_refused, last_used_at, last_used_ip) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?)")
	}
	// The last use moves forward only: the later time wins, with its
	// address, whichever instance's flush comes first. Both assignments
	// read the row as it was; CASE, unlike max(a, b) or GREATEST, means the
	// same on SQLite and PostgreSQL, and a NULL new time never wins.
	b.WriteString(`
		ON CONFLICT (hour, client_id) DO UPDATE SET
		tokens_issued = usage_hourly.tokens_issued + excluded.tokens_issued,
		tokens_refused = usage_hourly.tokens_refused + excluded.tokens_refused,
		api_calls = usage_hourly.api_calls + excluded.api_calls,
		api_refused = usage_hourly.api_refused + excluded.api_refused,
		last_used_at = CASE WHEN excluded.last_used_at > usage_hourly.last_used_at OR usage_hourly.last_used_at IS NULL
			THEN excluded.last_used_at ELSE usage_hourly.last_used_at END,
		last_used_ip = CASE WHEN excluded.last_used_at > usage_hourly.last_used_at OR usage_hourly.last_used_at IS NULL
			THEN excluded.last_used_ip ELSE usage_hourly.last_used_ip END`)
	return b.String()
}

// ListUsage returns buckets in time order, then by client ID.
func (s *SQL) ListUsage(ctx context.Context, f UsageFilter) ([]UsageBucket, error) {
	query := `SELECT client_id, hour, org_id, tokens_issued, tokens_refused, api_calls, api_refused, last_used_at, last_used_ip
		FROM usage_hourly WHERE 1 = 1`
	var args []any
	if f.OrgID != "" {
		query += ` AND org_id = ?`
		args = append(args, f.OrgID)
	}
	if f.ClientID != "" {
		query += ` AND client_id = ?`
		args = append(args, f.ClientID)
	}
	if !f.From.IsZero() {
		query += ` AND hour >= ?`
		args = append(args, f.From.UnixMicro())
	}
	if !f.To.IsZero() {
		query += ` AND hour < ?`
		args = append(args, f.To.UnixMicro())
	}
	query += ` ORDER BY hour, client_id`
	rows, err := s.conn().QueryContext(ctx, s.q(query), args...)
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
		n, _ = res.RowsAffected()
		return nil
	})
	return int(n), err
}

const auditColumns = `id, at, org_id, actor_kind, actor_id, actor_label, action, target, ip, user_agent, detail`

// AppendAudit records an event; inside InTx it commits with the change.
func (s *SQL) AppendAudit(ctx context.Context, e AuditEvent) error {
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
