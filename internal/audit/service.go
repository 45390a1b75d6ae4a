package audit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/store"
)

// ErrNoOrganisation is returned to an actor without Admin authority who
// belongs to no organisation: there is no trail they may see.
var ErrNoOrganisation = errors.New("audit: the actor belongs to no organisation")

// MaxPage is the most events one List returns.
const MaxPage = 1000

// Service answers which events of the trail an actor may see. The console
// and the REST API call it, so that which organisations they come from is
// decided here once (through access.Actor), not in each of them.
type Service struct {
	Store store.Audit
}

// Query selects events.
type Query struct {
	// OrgID limits an Admin to one organisation; "" is every organisation.
	// For anyone else it is ignored: they see their own organisation.
	OrgID  string
	Action string // "" for every action
	// From and To bound the time of events, To excluded; zero is open.
	From, To time.Time
	// Before and BeforeID start the page after the event BeforeID at
	// Before, in the order newest first (by time, then by ID): the last
	// event of the page before. Zero starts at the newest.
	Before   time.Time
	BeforeID string
	Limit    int // 1 to MaxPage; 0 is MaxPage
}

// List returns a page of the events the actor may see, newest first.
// Whatever the query names, a Customer or a credential sees only their own
// organisation's events.
func (s *Service) List(ctx context.Context, actor access.Actor, q Query) ([]store.AuditEvent, error) {
	f := store.AuditFilter{OrgID: actor.OrgFilter(q.OrgID), Action: q.Action, From: q.From, To: q.To,
		Before: q.Before, BeforeID: q.BeforeID, Limit: q.Limit}
	if !actor.IsAdmin() && f.OrgID == "" {
		return nil, ErrNoOrganisation
	}
	if f.Limit <= 0 || f.Limit > MaxPage {
		f.Limit = MaxPage
	}
	events, err := s.Store.ListAudit(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("audit: list: %w", err)
	}
	return events, nil
}
