package store

import (
	"context"
	"time"
)

// AddRouteUsage adds each row's calls to what is stored for its hour,
// credential, route and outcome, in one transaction.
func (s *SQL) AddRouteUsage(ctx context.Context, rows []RouteUsage) error {
	if len(rows) == 0 {
		return nil
	}
	return s.inTx(ctx, func(tx queryer) error {
		for _, r := range rows {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO usage_routes (hour, client_id, org_id, route, outcome, calls)
				VALUES (?, ?, ?, ?, ?, ?)
				ON CONFLICT (hour, client_id, route, outcome) DO UPDATE SET calls = usage_routes.calls + excluded.calls`),
				r.Hour.UnixMicro(), r.ClientID, r.OrgID, r.Route, r.Outcome, r.Calls); err != nil {
				return mapErr("add route usage", err)
			}
		}
		return nil
	})
}

// ListRouteUsage returns the route usage f selects, by hour, credential,
// route and outcome.
func (s *SQL) ListRouteUsage(ctx context.Context, f UsageFilter) ([]RouteUsage, error) {
	query := `SELECT hour, client_id, org_id, route, outcome, calls FROM usage_routes WHERE hour >= ? AND hour < ?`
	args := []any{f.From.UnixMicro(), f.To.UnixMicro()}
	if f.OrgID != "" {
		query += ` AND org_id = ?`
		args = append(args, f.OrgID)
	}
	if f.ClientID != "" {
		query += ` AND client_id = ?`
		args = append(args, f.ClientID)
	}
	query += ` ORDER BY hour, client_id, route, outcome`
	rows, err := s.conn().QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, mapErr("list route usage", err)
	}
	return collect(rows, func(row interface{ Scan(...any) error }) (RouteUsage, error) {
		var (
			r    RouteUsage
			hour int64
		)
		err := row.Scan(&hour, &r.ClientID, &r.OrgID, &r.Route, &r.Outcome, &r.Calls)
		r.Hour = time.UnixMicro(hour).UTC()
		return r, err
	}, "list route usage")
}
