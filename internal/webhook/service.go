// Package webhook tells organisations and operators what happened to
// their credentials: endpoints subscribe to event types, and every event
// is delivered at least once, signed as the Standard Webhooks
// specification says (webhook-id, webhook-timestamp, webhook-signature),
// by a River queue on Sapient's own database.
//
// Events come from the audit trail: each change that reports an event is
// audited in its own transaction, and the queue's audit hook enqueues the
// deliveries in that same transaction (see Queue). So every path that
// makes a change (console, REST API, CLI, leak reports, the expiry scan)
// emits its event, and an event exists exactly when its change committed.
package webhook

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"crypto/rand"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/audit"
	"sapient.dev/sapient/internal/keys"
	"sapient.dev/sapient/internal/store"
)

// ErrNotFound is returned for an endpoint or delivery that does not exist
// or that the actor may not reach: the two look the same from outside.
var ErrNotFound = errors.New("webhook: not found")

// ValidationError is bad input, with the field it concerns and a message
// for people.
type ValidationError struct {
	Field   string
	Message string
}

func (e *ValidationError) Error() string { return "webhook: " + e.Field + ": " + e.Message }

func invalid(field, format string, args ...any) *ValidationError {
	return &ValidationError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// MaxEndpoints bounds the endpoints of one organisation (and the
// Admin-level ones).
const MaxEndpoints = 20

const maxDescription = 200

// Service holds the rules for webhook endpoints. The console, the REST
// API and the CLI all call it with the acting access.Actor; every change
// is audited in its own transaction.
type Service struct {
	Store store.Store
	KEK   *keys.KEK
	Now   func() time.Time
	Rand  io.Reader // default crypto/rand
	// AllowPrivate permits http and loopback or private targets
	// (--webhooks-allow-private).
	AllowPrivate bool
}

// CreateRequest describes a new endpoint. An empty OrgID, allowed to
// Admins only, makes an Admin-level endpoint: it may want every
// organisation's events and the platform's (key.rotated, key.retired).
type CreateRequest struct {
	OrgID       string
	URL         string
	Events      []string
	Description string
}

// Created is a new endpoint with its signing secret, which exists in plain
// text only here.
type Created struct {
	Endpoint store.WebhookEndpoint
	Secret   string
}

// UpdateRequest changes what is set.
type UpdateRequest struct {
	URL         *string
	Events      *[]string
	Description *string
	// Enabled true enables a disabled endpoint again (its failures are
	// forgotten); false disables it.
	Enabled *bool
}

func (s *Service) now() time.Time { return s.Now().UTC().Truncate(time.Microsecond) }

func (s *Service) rand() io.Reader {
	if s.Rand != nil {
		return s.Rand
	}
	return rand.Reader
}

// reach reports whether actor may see and change e: an Admin any, others
// only their organisation's.
func reach(actor access.Actor, e store.WebhookEndpoint) bool {
	return actor.IsAdmin() || (e.OrgID != "" && actor.OrgID == e.OrgID)
}

// secretLabel binds a sealed secret to its endpoint.
func secretLabel(id string) string { return "webhook:" + id }

// ParseEvents splits a space- or comma-separated list of event types.
func ParseEvents(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' || r == '\n' || r == '\r' })
}

// checkEvents normalises the event types an endpoint wants: known ones,
// each once, in the documented order.
func checkEvents(events []string, orgID string) ([]string, error) {
	allowed := OrgEvents
	if orgID == "" {
		allowed = AdminEvents
	}
	if len(events) == 0 {
		return nil, invalid("events", "Choose at least one event type.")
	}
	for _, e := range events {
		if !slices.Contains(allowed, e) {
			if slices.Contains(AdminEvents, e) {
				return nil, invalid("events", "%q is sent to Admin-level endpoints only.", e)
			}
			if len(e) > 64 || !utf8.ValidString(e) {
				e = "that event type"
			}
			return nil, invalid("events", "Unknown event type %q. Known: %s.", e, strings.Join(allowed, ", "))
		}
	}
	var out []string
	for _, a := range allowed {
		if slices.Contains(events, a) {
			out = append(out, a)
		}
	}
	return out, nil
}

func checkDescription(d string) (string, error) {
	d = strings.TrimSpace(d)
	if !utf8.ValidString(d) || utf8.RuneCountInString(d) > maxDescription || strings.ContainsFunc(d, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", invalid("description", "The description must be at most %d printable characters.", maxDescription)
	}
	return d, nil
}

// Create adds an endpoint and returns its signing secret, once.
func (s *Service) Create(ctx context.Context, actor access.Actor, req CreateRequest) (Created, error) {
	if req.OrgID == "" && !actor.IsAdmin() {
		req.OrgID = actor.OrgID
	}
	if req.OrgID != "" {
		if !actor.CanReach(req.OrgID) {
			return Created{}, invalid("org", "Unknown organisation.")
		}
		if _, err := s.Store.GetOrg(ctx, req.OrgID); errors.Is(err, store.ErrNotFound) {
			return Created{}, invalid("org", "Unknown organisation.")
		} else if err != nil {
			return Created{}, fmt.Errorf("webhook: create: %w", err)
		}
	}
	u, err := ValidateURL(req.URL, s.AllowPrivate)
	if err != nil {
		return Created{}, err
	}
	events, err := checkEvents(req.Events, req.OrgID)
	if err != nil {
		return Created{}, err
	}
	desc, err := checkDescription(req.Description)
	if err != nil {
		return Created{}, err
	}
	have, err := s.Store.ListWebhookEndpoints(ctx, req.OrgID)
	if err != nil {
		return Created{}, fmt.Errorf("webhook: create: %w", err)
	}
	if len(have) >= MaxEndpoints {
		return Created{}, invalid("url", "An organisation may have at most %d webhook endpoints; delete one first.", MaxEndpoints)
	}
	secret, err := NewSecret(s.rand())
	if err != nil {
		return Created{}, err
	}
	now := s.now()
	e := store.WebhookEndpoint{
		ID: "whe_" + strings.ToLower(rand.Text()[:20]), OrgID: req.OrgID, URL: u, Events: events, Description: desc,
		CreatedAt: now, CreatedBy: actor.Label, UpdatedAt: now,
	}
	if e.SecretSealed, err = s.KEK.Seal(s.rand(), []byte(secret), secretLabel(e.ID)); err != nil {
		return Created{}, fmt.Errorf("webhook: create: %w", err)
	}
	err = s.Store.InTx(ctx, func(tx store.Store) error {
		if err := tx.CreateWebhookEndpoint(ctx, e); err != nil {
			return err
		}
		return audit.Write(ctx, tx, actor, ActionEndpointCreated, e.OrgID, e.ID, fmt.Sprintf("url %q, events %q", e.URL, strings.Join(events, " ")), now)
	})
	if err != nil {
		return Created{}, fmt.Errorf("webhook: create: %w", err)
	}
	return Created{Endpoint: e, Secret: secret}, nil
}

// List returns the endpoints the actor may see: a customer's
// organisation's; for an Admin, orgID's ("" for every endpoint).
func (s *Service) List(ctx context.Context, actor access.Actor, orgID string) ([]store.WebhookEndpoint, error) {
	var (
		list []store.WebhookEndpoint
		err  error
	)
	switch {
	case actor.IsAdmin() && orgID == "":
		list, err = s.Store.ListWebhookEndpoints(ctx)
	case actor.IsAdmin():
		list, err = s.Store.ListWebhookEndpoints(ctx, orgID)
	case actor.OrgID == "":
		return []store.WebhookEndpoint{}, nil
	default:
		list, err = s.Store.ListWebhookEndpoints(ctx, actor.OrgID)
	}
	if err != nil {
		return nil, fmt.Errorf("webhook: list: %w", err)
	}
	return list, nil
}

// Get returns one endpoint the actor may reach.
func (s *Service) Get(ctx context.Context, actor access.Actor, id string) (store.WebhookEndpoint, error) {
	e, err := s.Store.GetWebhookEndpoint(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !reach(actor, e)) {
		return store.WebhookEndpoint{}, ErrNotFound
	}
	if err != nil {
		return store.WebhookEndpoint{}, fmt.Errorf("webhook: get: %w", err)
	}
	return e, nil
}

// Update changes an endpoint the actor may reach.
func (s *Service) Update(ctx context.Context, actor access.Actor, id string, req UpdateRequest) (store.WebhookEndpoint, error) {
	var (
		u, desc string
		events  []string
		err     error
	)
	if req.URL != nil {
		if u, err = ValidateURL(*req.URL, s.AllowPrivate); err != nil {
			return store.WebhookEndpoint{}, err
		}
	}
	if req.Description != nil {
		if desc, err = checkDescription(*req.Description); err != nil {
			return store.WebhookEndpoint{}, err
		}
	}
	now := s.now()
	var out store.WebhookEndpoint
	err = s.Store.InTx(ctx, func(tx store.Store) error {
		var changes []string
		out, err = tx.UpdateWebhookEndpoint(ctx, id, func(e store.WebhookEndpoint) (store.WebhookEndpoint, error) {
			if !reach(actor, e) {
				return e, ErrNotFound
			}
			if req.Events != nil {
				if events, err = checkEvents(*req.Events, e.OrgID); err != nil {
					return e, err
				}
				if !slices.Equal(events, e.Events) {
					e.Events = events
					changes = append(changes, fmt.Sprintf("events %q", strings.Join(events, " ")))
				}
			}
			if req.URL != nil && u != e.URL {
				e.URL = u
				changes = append(changes, fmt.Sprintf("url %q", u))
			}
			if req.Description != nil && desc != e.Description {
				e.Description = desc
				changes = append(changes, "description")
			}
			if req.Enabled != nil {
				switch {
				case *req.Enabled && !e.DisabledAt.IsZero():
					e.DisabledAt, e.DisabledReason, e.FailingSince = time.Time{}, "", time.Time{}
					changes = append(changes, "enabled")
				case !*req.Enabled && e.DisabledAt.IsZero():
					e.DisabledAt, e.DisabledReason = now, "disabled by "+actor.Label
					changes = append(changes, "disabled")
				}
			}
			if len(changes) > 0 {
				e.UpdatedAt = now
			}
			return e, nil
		})
		if err != nil || len(changes) == 0 {
			return err
		}
		return audit.Write(ctx, tx, actor, ActionEndpointUpdated, out.OrgID, out.ID, strings.Join(changes, "; "), now)
	})
	switch {
	case errors.Is(err, store.ErrNotFound) || errors.Is(err, ErrNotFound):
		return store.WebhookEndpoint{}, ErrNotFound
	case err != nil:
		var verr *ValidationError
		if errors.As(err, &verr) {
			return store.WebhookEndpoint{}, verr
		}
		return store.WebhookEndpoint{}, fmt.Errorf("webhook: update: %w", err)
	}
	return out, nil
}

// Delete removes an endpoint the actor may reach, with its deliveries;
// deliveries still queued for it are dropped when their turn comes.
func (s *Service) Delete(ctx context.Context, actor access.Actor, id string) error {
	e, err := s.Get(ctx, actor, id)
	if err != nil {
		return err
	}
	err = s.Store.InTx(ctx, func(tx store.Store) error {
		if err := tx.DeleteWebhookEndpoint(ctx, id); err != nil {
			return err
		}
		return audit.Write(ctx, tx, actor, ActionEndpointDeleted, e.OrgID, e.ID, fmt.Sprintf("url %q", e.URL), s.now())
	})
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	} else if err != nil {
		return fmt.Errorf("webhook: delete: %w", err)
	}
	return nil
}

// Deliveries lists the newest deliveries of an endpoint the actor may
// reach.
func (s *Service) Deliveries(ctx context.Context, actor access.Actor, id string, limit int) ([]store.WebhookDelivery, error) {
	if _, err := s.Get(ctx, actor, id); err != nil {
		return nil, err
	}
	if limit <= 0 || limit > 100 {
		limit = 100
	}
	list, err := s.Store.ListWebhookDeliveries(ctx, id, limit)
	if err != nil {
		return nil, fmt.Errorf("webhook: deliveries: %w", err)
	}
	return list, nil
}

// Resend queues a delivery of an endpoint the actor may reach once more,
// under the same webhook-id, so that a receiver that saw it already can
// tell. The queue's audit hook enqueues it with the audit event.
func (s *Service) Resend(ctx context.Context, actor access.Actor, endpointID, deliveryID string) (store.WebhookDelivery, error) {
	e, err := s.Get(ctx, actor, endpointID)
	if err != nil {
		return store.WebhookDelivery{}, err
	}
	if !e.DisabledAt.IsZero() {
		return store.WebhookDelivery{}, invalid("endpoint", "The endpoint is disabled; enable it before resending.")
	}
	d, err := s.Store.GetWebhookDelivery(ctx, deliveryID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && d.EndpointID != e.ID) {
		return store.WebhookDelivery{}, ErrNotFound
	} else if err != nil {
		return store.WebhookDelivery{}, fmt.Errorf("webhook: resend: %w", err)
	}
	err = s.Store.InTx(ctx, func(tx store.Store) error {
		return audit.Write(ctx, tx, actor, ActionDeliveryResent, e.OrgID, d.ID, fmt.Sprintf("%s to %s", d.EventType, e.ID), s.now())
	})
	if err != nil {
		return store.WebhookDelivery{}, fmt.Errorf("webhook: resend: %w", err)
	}
	if d, err = s.Store.GetWebhookDelivery(ctx, deliveryID); err != nil {
		return store.WebhookDelivery{}, fmt.Errorf("webhook: resend: %w", err)
	}
	return d, nil
}
