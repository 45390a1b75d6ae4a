package store

import (
	"context"
	"database/sql"
	"strings"
	"time"
)

// WebhookEndpoint is a URL that receives an organisation's events, or
// every organisation's and the platform's when OrgID is empty (an
// Admin-level endpoint). SecretSealed is the signing secret sealed under
// the key-encryption key: it is read to sign deliveries, never shown.
type WebhookEndpoint struct {
	ID           string
	OrgID        string
	URL          string
	Events       []string
	Description  string
	SecretSealed []byte
	CreatedAt    time.Time
	CreatedBy    string
	UpdatedAt    time.Time
	// DisabledAt is when the endpoint stopped receiving events, with
	// DisabledReason; zero while enabled.
	DisabledAt     time.Time
	DisabledReason string
	// FailingSince is the first failed attempt since the last success;
	// zero while deliveries succeed.
	FailingSince time.Time
}

// Delivery states.
const (
	DeliveryPending   = "pending"   // waiting for its first or next attempt
	DeliveryDelivered = "delivered" // the endpoint answered 2xx
	DeliveryFailed    = "failed"    // every attempt failed, or the endpoint was disabled
)

// WebhookDelivery is one event for one endpoint and what became of it.
// ID is the Standard Webhooks message ID (webhook-id), the same for every
// attempt.
type WebhookDelivery struct {
	ID            string
	EndpointID    string
	OrgID         string
	EventType     string
	Payload       []byte
	CreatedAt     time.Time
	Status        string
	Attempts      int
	ResponseCode  int
	LatencyMS     int64
	LastError     string
	LastAttemptAt time.Time
}

// Webhooks stores webhook endpoints and deliveries.
type Webhooks interface {
	CreateWebhookEndpoint(ctx context.Context, e WebhookEndpoint) error
	GetWebhookEndpoint(ctx context.Context, id string) (WebhookEndpoint, error)
	// ListWebhookEndpoints lists the endpoints of the organisations named
	// ("" names the Admin-level ones), oldest first; no name lists all.
	ListWebhookEndpoints(ctx context.Context, orgIDs ...string) ([]WebhookEndpoint, error)
	// UpdateWebhookEndpoint reads, changes and writes one endpoint in a
	// single transaction; update's error aborts it and is returned.
	UpdateWebhookEndpoint(ctx context.Context, id string, update func(WebhookEndpoint) (WebhookEndpoint, error)) (WebhookEndpoint, error)
	// DeleteWebhookEndpoint deletes an endpoint and its deliveries.
	DeleteWebhookEndpoint(ctx context.Context, id string) error
	CreateWebhookDelivery(ctx context.Context, d WebhookDelivery) error
	GetWebhookDelivery(ctx context.Context, id string) (WebhookDelivery, error)
	// ListWebhookDeliveries lists an endpoint's deliveries, newest first.
	ListWebhookDeliveries(ctx context.Context, endpointID string, limit int) ([]WebhookDelivery, error)
	// UpdateWebhookDelivery reads, changes and writes one delivery in a
	// single transaction.
	UpdateWebhookDelivery(ctx context.Context, id string, update func(WebhookDelivery) (WebhookDelivery, error)) (WebhookDelivery, error)
	// MarkOnce records mark and reports true the first time it is
	// recorded, false ever after: what is sent once (an expiry warning)
	// is sent by one instance only.
	MarkOnce(ctx context.Context, mark string, at time.Time) (bool, error)
	// MarkEvery records mark at at and reports true when it was not
	// recorded yet or was recorded at least every before at; otherwise it
	// leaves it and reports false: what is sent at most once per period
	// (a credential's rate-limit event) is sent by one instance only.
	MarkEvery(ctx context.Context, mark string, at time.Time, every time.Duration) (bool, error)
	// PruneWebhookDeliveries deletes the deliveries made before before
	// that are no longer pending, and the marks recorded before it.
	PruneWebhookDeliveries(ctx context.Context, before time.Time) (int, error)
	// ListExpiringCredentials lists the credentials that are not revoked
	// and expire in [from, to), soonest first.
	ListExpiringCredentials(ctx context.Context, from, to time.Time) ([]Credential, error)
}

const webhookEndpointColumns = `id, org_id, url, events, description, secret_sealed, created_at, created_by, updated_at, disabled_at, disabled_reason, failing_since`

func scanWebhookEndpoint(row interface{ Scan(...any) error }) (WebhookEndpoint, error) {
	var (
		e                                   WebhookEndpoint
		events, sealed                      string
		created, updated, disabled, failing sql.NullInt64
	)
	err := row.Scan(&e.ID, &e.OrgID, &e.URL, &events, &e.Description, &sealed, &created, &e.CreatedBy, &updated, &disabled, &e.DisabledReason, &failing)
	e.Events, e.SecretSealed = splitScopes(events), []byte(sealed)
	e.CreatedAt, e.UpdatedAt, e.DisabledAt, e.FailingSince = fromMicros(created), fromMicros(updated), fromMicros(disabled), fromMicros(failing)
	return e, err
}

// CreateWebhookEndpoint inserts an endpoint.
func (s *SQL) CreateWebhookEndpoint(ctx context.Context, e WebhookEndpoint) error {
	_, err := s.conn().ExecContext(ctx, s.q(`INSERT INTO webhook_endpoints (`+webhookEndpointColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		e.ID, e.OrgID, e.URL, joinScopes(e.Events), e.Description, string(e.SecretSealed), micros(e.CreatedAt), e.CreatedBy,
		micros(e.UpdatedAt), micros(e.DisabledAt), e.DisabledReason, micros(e.FailingSince))
	return mapErr("create webhook endpoint", err)
}

// GetWebhookEndpoint finds an endpoint by ID.
func (s *SQL) GetWebhookEndpoint(ctx context.Context, id string) (WebhookEndpoint, error) {
	e, err := scanWebhookEndpoint(s.conn().QueryRowContext(ctx, s.q(`SELECT `+webhookEndpointColumns+` FROM webhook_endpoints WHERE id = ?`), id))
	return e, mapErr("get webhook endpoint", err)
}

// ListWebhookEndpoints lists endpoints by organisation, oldest first.
func (s *SQL) ListWebhookEndpoints(ctx context.Context, orgIDs ...string) ([]WebhookEndpoint, error) {
	query := `SELECT ` + webhookEndpointColumns + ` FROM webhook_endpoints`
	args := make([]any, len(orgIDs))
	if len(orgIDs) > 0 {
		query += ` WHERE org_id IN (?` + strings.Repeat(`, ?`, len(orgIDs)-1) + `)`
		for i, o := range orgIDs {
			args[i] = o
		}
	}
	rows, err := s.conn().QueryContext(ctx, s.q(query+` ORDER BY created_at, id`), args...)
	if err != nil {
		return nil, mapErr("list webhook endpoints", err)
	}
	return collect(rows, scanWebhookEndpoint, "list webhook endpoints")
}

// UpdateWebhookEndpoint changes one endpoint in a transaction.
func (s *SQL) UpdateWebhookEndpoint(ctx context.Context, id string, update func(WebhookEndpoint) (WebhookEndpoint, error)) (WebhookEndpoint, error) {
	var out WebhookEndpoint
	err := s.inTx(ctx, func(tx queryer) error {
		e, err := scanWebhookEndpoint(tx.QueryRowContext(ctx, s.q(`SELECT `+webhookEndpointColumns+` FROM webhook_endpoints WHERE id = ?`+s.forUpdate), id))
		if err != nil {
			return mapErr("update webhook endpoint", err)
		}
		if out, err = update(e); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q(`UPDATE webhook_endpoints SET url = ?, events = ?, description = ?, secret_sealed = ?, updated_at = ?,
			disabled_at = ?, disabled_reason = ?, failing_since = ? WHERE id = ?`),
			out.URL, joinScopes(out.Events), out.Description, string(out.SecretSealed), micros(out.UpdatedAt),
			micros(out.DisabledAt), out.DisabledReason, micros(out.FailingSince), id)
		return mapErr("update webhook endpoint", err)
	})
	return out, err
}

// DeleteWebhookEndpoint deletes an endpoint and its deliveries.
func (s *SQL) DeleteWebhookEndpoint(ctx context.Context, id string) error {
	return s.inTx(ctx, func(tx queryer) error {
		res, err := tx.ExecContext(ctx, s.q(`DELETE FROM webhook_endpoints WHERE id = ?`), id)
		if err != nil {
			return mapErr("delete webhook endpoint", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		_, err = tx.ExecContext(ctx, s.q(`DELETE FROM webhook_deliveries WHERE endpoint_id = ?`), id)
		return mapErr("delete webhook deliveries", err)
	})
}

const webhookDeliveryColumns = `id, endpoint_id, org_id, event_type, payload, created_at, status, attempts, response_code, latency_ms, last_error, last_attempt_at`

func scanWebhookDelivery(row interface{ Scan(...any) error }) (WebhookDelivery, error) {
	var (
		d                WebhookDelivery
		payload          string
		created, attempt sql.NullInt64
	)
	err := row.Scan(&d.ID, &d.EndpointID, &d.OrgID, &d.EventType, &payload, &created, &d.Status, &d.Attempts, &d.ResponseCode, &d.LatencyMS, &d.LastError, &attempt)
	d.Payload, d.CreatedAt, d.LastAttemptAt = []byte(payload), fromMicros(created), fromMicros(attempt)
	return d, err
}

// CreateWebhookDelivery inserts a delivery.
func (s *SQL) CreateWebhookDelivery(ctx context.Context, d WebhookDelivery) error {
	_, err := s.conn().ExecContext(ctx, s.q(`INSERT INTO webhook_deliveries (`+webhookDeliveryColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		d.ID, d.EndpointID, d.OrgID, d.EventType, string(d.Payload), micros(d.CreatedAt), d.Status, d.Attempts, d.ResponseCode,
		d.LatencyMS, d.LastError, micros(d.LastAttemptAt))
	return mapErr("create webhook delivery", err)
}

// GetWebhookDelivery finds a delivery by ID.
func (s *SQL) GetWebhookDelivery(ctx context.Context, id string) (WebhookDelivery, error) {
	d, err := scanWebhookDelivery(s.conn().QueryRowContext(ctx, s.q(`SELECT `+webhookDeliveryColumns+` FROM webhook_deliveries WHERE id = ?`), id))
	return d, mapErr("get webhook delivery", err)
}

// ListWebhookDeliveries lists an endpoint's deliveries, newest first.
func (s *SQL) ListWebhookDeliveries(ctx context.Context, endpointID string, limit int) ([]WebhookDelivery, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.conn().QueryContext(ctx, s.q(`SELECT `+webhookDeliveryColumns+` FROM webhook_deliveries WHERE endpoint_id = ?
		ORDER BY created_at DESC, id DESC LIMIT ?`), endpointID, limit)
	if err != nil {
		return nil, mapErr("list webhook deliveries", err)
	}
	return collect(rows, scanWebhookDelivery, "list webhook deliveries")
}

// UpdateWebhookDelivery changes one delivery in a transaction.
func (s *SQL) UpdateWebhookDelivery(ctx context.Context, id string, update func(WebhookDelivery) (WebhookDelivery, error)) (WebhookDelivery, error) {
	var out WebhookDelivery
	err := s.inTx(ctx, func(tx queryer) error {
		d, err := scanWebhookDelivery(tx.QueryRowContext(ctx, s.q(`SELECT `+webhookDeliveryColumns+` FROM webhook_deliveries WHERE id = ?`+s.forUpdate), id))
		if err != nil {
			return mapErr("update webhook delivery", err)
		}
		if out, err = update(d); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q(`UPDATE webhook_deliveries SET status = ?, attempts = ?, response_code = ?, latency_ms = ?,
			last_error = ?, last_attempt_at = ? WHERE id = ?`),
			out.Status, out.Attempts, out.ResponseCode, out.LatencyMS, out.LastError, micros(out.LastAttemptAt), id)
		return mapErr("update webhook delivery", err)
	})
	return out, err
}

// MarkOnce records mark once (see Webhooks).
func (s *SQL) MarkOnce(ctx context.Context, mark string, at time.Time) (bool, error) {
	// ON CONFLICT DO NOTHING is the same on both databases and, unlike a
	// failed insert, leaves a PostgreSQL transaction usable.
	res, err := s.conn().ExecContext(ctx, s.q(`INSERT INTO webhook_marks (mark, at) VALUES (?, ?) ON CONFLICT (mark) DO NOTHING`), mark, at.UnixMicro())
	if err != nil {
		return false, mapErr("mark", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, mapErr("mark", err)
	}
	return n == 1, nil
}

// MarkEvery records mark at most once per period (see Webhooks).
func (s *SQL) MarkEvery(ctx context.Context, mark string, at time.Time, every time.Duration) (bool, error) {
	// The upsert's WHERE is the same on both databases: a conflicting row
	// that is too recent is left alone and counts as no row changed.
	res, err := s.conn().ExecContext(ctx, s.q(`INSERT INTO webhook_marks (mark, at) VALUES (?, ?)
		ON CONFLICT (mark) DO UPDATE SET at = excluded.at WHERE webhook_marks.at <= ?`), mark, at.UnixMicro(), at.Add(-every).UnixMicro())
	if err != nil {
		return false, mapErr("mark", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, mapErr("mark", err)
	}
	return n == 1, nil
}

// ListExpiringCredentials lists the credentials that are not revoked and
// expire at or after from and before to, soonest first: the expiry
// warnings' candidates. It leaves the last use empty.
func (s *SQL) ListExpiringCredentials(ctx context.Context, from, to time.Time) ([]Credential, error) {
	rows, err := s.conn().QueryContext(ctx, s.q(`SELECT `+credentialColumns+` FROM credentials
		WHERE revoked_at IS NULL AND expires_at >= ? AND expires_at < ? ORDER BY expires_at, client_id`), from.UnixMicro(), to.UnixMicro())
	if err != nil {
		return nil, mapErr("list expiring credentials", err)
	}
	return collect(rows, scanCredential, "list expiring credentials")
}

// PruneWebhookDeliveries deletes settled deliveries and marks older than
// before.
func (s *SQL) PruneWebhookDeliveries(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := s.inTx(ctx, func(tx queryer) error {
		res, err := tx.ExecContext(ctx, s.q(`DELETE FROM webhook_deliveries WHERE created_at < ? AND status <> ?`), before.UnixMicro(), DeliveryPending)
		if err != nil {
			return mapErr("prune webhook deliveries", err)
		}
		n, _ = res.RowsAffected()
		_, err = tx.ExecContext(ctx, s.q(`DELETE FROM webhook_marks WHERE at < ?`), before.UnixMicro())
		return mapErr("prune webhook marks", err)
	})
	return int(n), err
}
