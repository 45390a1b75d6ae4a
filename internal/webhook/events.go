package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"sapient.dev/sapient/internal/audit"
	"sapient.dev/sapient/internal/store"
)

// Event types, as endpoints subscribe to them and deliveries name them.
const (
	CredentialCreated     = "credential.created"
	CredentialUpdated     = "credential.updated"
	CredentialRolled      = "credential.rolled"
	CredentialRevoked     = "credential.revoked"
	CredentialExpiring    = "credential.expiring"
	CredentialExpired     = "credential.expired"
	CredentialRateLimited = "credential.rate_limited"
	CredentialLeaked      = "credential.leaked"
	// KeyRotated and KeyRetired concern the whole platform: only
	// Admin-level endpoints (those of no organisation) receive them.
	KeyRotated = "key.rotated"
	KeyRetired = "key.retired"
)

// Audit actions of this package. Expiry warnings are audited like any
// other change, and their events come from the audit trail too.
const (
	ActionEndpointCreated    = "webhook.created"
	ActionEndpointUpdated    = "webhook.updated"
	ActionEndpointDeleted    = "webhook.deleted"
	ActionEndpointDisabled   = "webhook.disabled"
	ActionDeliveryResent     = "webhook.delivery_resent"
	ActionCredentialExpiring = "credential.expiring"
	ActionCredentialExpired  = "credential.expired"
	// ActionCredentialLeaked is written by the leak reports' service
	// when it revokes or rolls a reported credential.
	ActionCredentialLeaked = audit.CredentialLeaked
)

// OrgEvents are the event types an organisation's endpoint may want.
var OrgEvents = []string{
	CredentialCreated, CredentialUpdated, CredentialRolled, CredentialRevoked,
	CredentialExpiring, CredentialExpired, CredentialRateLimited, CredentialLeaked,
}

// AdminEvents are those an Admin-level endpoint may want: every
// organisation's, and the platform's.
var AdminEvents = append(slices.Clone(OrgEvents), KeyRotated, KeyRetired)

// eventOf maps the audit action that records a change to the event type
// that reports it. Every change is audited in its own transaction, through
// whichever path made it (console, API, CLI, leak reports, the expiry
// scan); enqueuing there makes every path emit, in that transaction.
var eventOf = map[string]string{
	audit.CredentialCreated:   CredentialCreated,
	audit.CredentialUpdated:   CredentialUpdated,
	audit.CredentialRolled:    CredentialRolled,
	audit.CredentialRevoked:   CredentialRevoked,
	audit.CredentialRateLimit: CredentialRateLimited,
	ActionCredentialLeaked:    CredentialLeaked,
	ActionCredentialExpiring:  CredentialExpiring,
	ActionCredentialExpired:   CredentialExpired,
	audit.KeyRotated:          KeyRotated,
	audit.KeyRetired:          KeyRetired,
}

// Payload is the body of a delivery, as the Standard Webhooks
// specification lays it out: type, timestamp and data.
type Payload struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      Data      `json:"data"`
}

// Data describes what happened. It never holds a secret or a digest of one.
type Data struct {
	EventID        string     `json:"event_id"`
	OrganizationID string     `json:"organization_id,omitempty"`
	ClientID       string     `json:"client_id,omitempty"`
	Name           string     `json:"name,omitempty"`
	Scopes         []string   `json:"scopes,omitempty"`
	Status         string     `json:"status,omitempty"`
	ExpiresAt      *time.Time `json:"expires_at,omitempty"`
	KeyID          string     `json:"key_id,omitempty"`
	Actor          Actor      `json:"actor"`
	Detail         string     `json:"detail,omitempty"`
}

// Actor is who made the change.
type Actor struct {
	Kind  string `json:"kind"`
	ID    string `json:"id,omitempty"`
	Label string `json:"label,omitempty"`
	IP    string `json:"ip,omitempty"`
}

// payload builds the body reporting e, reading the credential it concerns
// through s (the transaction of the change, so it reads the change).
func payload(ctx context.Context, s store.Store, typ string, e store.AuditEvent) ([]byte, error) {
	p := Payload{Type: typ, Timestamp: e.At.UTC(), Data: Data{
		EventID: e.ID, OrganizationID: e.OrgID, Detail: e.Detail,
		Actor: Actor{Kind: e.ActorKind, ID: e.ActorID, Label: e.ActorLabel, IP: e.IP},
	}}
	switch typ {
	case KeyRotated, KeyRetired:
		p.Data.KeyID = e.Target
	default:
		p.Data.ClientID = e.Target
		c, err := s.GetCredential(ctx, e.Target)
		switch {
		case err == nil:
			p.Data.Name, p.Data.Scopes, p.Data.Status = c.Name, c.Scopes, c.Status(e.At)
			if !c.ExpiresAt.IsZero() {
				t := c.ExpiresAt.UTC()
				p.Data.ExpiresAt = &t
			}
		case !errors.Is(err, store.ErrNotFound):
			return nil, err
		}
	}
	return json.Marshal(p)
}
