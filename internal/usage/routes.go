package usage

import (
	"context"
	"fmt"
	"slices"
	"time"

	"sapient.dev/sapient/internal/access"
)

// The outcomes of a call to the operator's API, as usage counts them per
// route: accepted, or the reason it was refused.
const (
	Accepted          = "accepted"
	NoToken           = "no_token"
	InvalidToken      = "invalid_token" // malformed, expired, not Sapient's, or of a retired key
	Revoked           = "revoked"       // the token or its credential revoked (or expired)
	InsufficientScope = "insufficient_scope"
	AddressNotAllowed = "address_not_allowed"
	RateLimited       = "rate_limited"
)

// RefusalReasons lists the reasons a call is refused, in the order usage
// shows them.
var RefusalReasons = []string{NoToken, InvalidToken, Revoked, InsufficientScope, AddressNotAllowed, RateLimited}

// RouteRow is one credential's calls to one route of the operator's API in
// one period: how many were accepted and how many were refused, by reason.
// ClientID and OrganizationID are empty for refusals of calls whose
// credential was not identified; an actor without Admin authority never
// sees those, as they belong to no organisation.
type RouteRow struct {
	ClientID       string           `json:"client_id"`
	OrganizationID string           `json:"organization_id"`
	Start          time.Time        `json:"start"`
	Route          string           `json:"route"`
	Accepted       int64            `json:"accepted"`
	Refused        map[string]int64 `json:"refused"`
}

// Routes returns the calls to the operator's API the actor may see, per
// credential, route and hour (or day), in time order, with the same rules
// as List.
func (s *Service) Routes(ctx context.Context, actor access.Actor, q Query) ([]RouteRow, error) {
	f, err := filter(actor, q)
	if err != nil {
		return nil, err
	}
	rows, err := s.Store.ListRouteUsage(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("usage: routes: %w", err)
	}
	out := []RouteRow{}
	index := map[[3]string]int{}
	for _, r := range rows {
		start := r.Hour.UTC()
		if q.Daily {
			start = time.Date(start.Year(), start.Month(), start.Day(), 0, 0, 0, 0, time.UTC)
		}
		key := [3]string{start.Format(time.RFC3339), r.ClientID, r.Route}
		i, ok := index[key]
		if !ok {
			i = len(out)
			index[key] = i
			out = append(out, RouteRow{ClientID: r.ClientID, OrganizationID: r.OrgID, Start: start, Route: r.Route, Refused: map[string]int64{}})
		}
		if r.Outcome == Accepted {
			out[i].Accepted += r.Calls
		} else {
			out[i].Refused[r.Outcome] += r.Calls
		}
	}
	slices.SortStableFunc(out, func(a, b RouteRow) int { return a.Start.Compare(b.Start) })
	return out, nil
}
