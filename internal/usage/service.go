package usage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/store"
)

// ErrNoOrganisation is returned to an actor without Admin authority who
// belongs to no organisation: there is no usage they may see.
var ErrNoOrganisation = errors.New("usage: the actor belongs to no organisation")

// MaxSpan bounds the period of one query.
const MaxSpan = 400 * 24 * time.Hour

// QueryError is a query that cannot be answered, with the field at fault.
type QueryError struct {
	Field   string // "from" or "to"
	Message string // for people
}

func (e *QueryError) Error() string { return "usage: " + e.Field + ": " + e.Message }

// Service answers what usage an actor may see. The console and the REST
// API call it, so that which organisations an actor's usage comes from is
// decided here once (through access.Actor), not in each of them.
type Service struct {
	Store store.Usage
}

// Query selects usage.
type Query struct {
	// OrgID limits an Admin to one organisation; "" is every organisation.
	// For anyone else it is ignored: they see their own organisation.
	OrgID    string
	ClientID string // "" for every credential
	From, To time.Time
	Daily    bool // rows per UTC day instead of per hour
}

// List returns the counts of the usage the actor may see, per credential
// and hour (or day), in time order. Whatever the query names, a Customer
// or a credential sees only their own organisation's usage.
func (s *Service) List(ctx context.Context, actor access.Actor, q Query) ([]Row, error) {
	f, err := filter(actor, q)
	if err != nil {
		return nil, err
	}
	buckets, err := s.Store.ListUsage(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("usage: list: %w", err)
	}
	return Aggregate(buckets, q.Daily), nil
}

// Row is one credential's counts in one period.
type Row struct {
	ClientID       string    `json:"client_id"`
	OrganizationID string    `json:"organization_id"`
	Start          time.Time `json:"start"`
	TokensIssued   int64     `json:"tokens_issued"`
	TokensRefused  int64     `json:"tokens_refused"`
	APICalls       int64     `json:"api_calls"`
	APIRefused     int64     `json:"api_refused"`
}

// Aggregate turns hourly buckets into rows per hour or per UTC day, in
// time order.
func Aggregate(buckets []store.UsageBucket, daily bool) []Row {
	rows := make([]Row, 0, len(buckets))
	index := map[[2]string]int{}
	for _, b := range buckets {
		start := b.Hour.UTC()
		if daily {
			start = time.Date(start.Year(), start.Month(), start.Day(), 0, 0, 0, 0, time.UTC)
		}
		key := [2]string{b.ClientID, start.Format(time.RFC3339)}
		i, ok := index[key]
		if !ok {
			i = len(rows)
			index[key] = i
			rows = append(rows, Row{ClientID: b.ClientID, OrganizationID: b.OrgID, Start: start})
		}
		rows[i].TokensIssued += b.TokensIssued
		rows[i].TokensRefused += b.TokensRefused
		rows[i].APICalls += b.APICalls
		rows[i].APIRefused += b.APIRefused
	}
	return rows
}

// filter turns a query into the store's filter for what actor may see:
// the rules of the period, and the organisation decided by access.Actor.
func filter(actor access.Actor, q Query) (store.UsageFilter, error) {
	if !q.From.Before(q.To) {
		return store.UsageFilter{}, &QueryError{"from", "from must be before to."}
	}
	if q.To.Sub(q.From) > MaxSpan {
		return store.UsageFilter{}, &QueryError{"to", "At most 400 days at once."}
	}
	f := store.UsageFilter{OrgID: actor.OrgFilter(q.OrgID), ClientID: q.ClientID, From: q.From, To: q.To}
	if !actor.IsAdmin() && f.OrgID == "" {
		return store.UsageFilter{}, ErrNoOrganisation
	}
	return f, nil
}
