package api

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/webhook"
)

// Webhooks serves /api/v1/webhooks. Every handler calls webhook.Service
// with the caller's actor, so organisation isolation and the rules are
// the console's and the CLI's.
type Webhooks struct {
	Service *webhook.Service
	Logger  *slog.Logger
}

// WebhookEndpoint is an endpoint as the API shows it. It never holds the
// signing secret, except SigningSecret in the one response that creates it.
type WebhookEndpoint struct {
	ID             string     `json:"id"`
	OrganizationID string     `json:"organization_id,omitempty"`
	URL            string     `json:"url"`
	Events         []string   `json:"events"`
	Description    string     `json:"description"`
	Enabled        bool       `json:"enabled"`
	DisabledAt     *time.Time `json:"disabled_at,omitempty"`
	DisabledReason string     `json:"disabled_reason,omitempty"`
	FailingSince   *time.Time `json:"failing_since,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	CreatedBy      string     `json:"created_by"`
	SigningSecret  string     `json:"signing_secret,omitempty"`
}

// WebhookDelivery is one delivery and what became of it.
type WebhookDelivery struct {
	ID            string     `json:"id"`
	EventType     string     `json:"event_type"`
	Status        string     `json:"status"`
	Attempts      int        `json:"attempts"`
	ResponseCode  int        `json:"response_code,omitempty"`
	LatencyMS     int64      `json:"latency_ms"`
	LastError     string     `json:"last_error,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	LastAttemptAt *time.Time `json:"last_attempt_at,omitempty"`
}

func webhookToAPI(e store.WebhookEndpoint) WebhookEndpoint {
	out := WebhookEndpoint{
		ID: e.ID, OrganizationID: e.OrgID, URL: e.URL, Events: e.Events, Description: e.Description,
		Enabled: e.DisabledAt.IsZero(), DisabledAt: optTime(e.DisabledAt), DisabledReason: e.DisabledReason,
		FailingSince: optTime(e.FailingSince), CreatedAt: e.CreatedAt.UTC(), CreatedBy: e.CreatedBy,
	}
	if out.Events == nil {
		out.Events = []string{}
	}
	return out
}

func deliveryToAPI(d store.WebhookDelivery) WebhookDelivery {
	return WebhookDelivery{
		ID: d.ID, EventType: d.EventType, Status: d.Status, Attempts: d.Attempts, ResponseCode: d.ResponseCode,
		LatencyMS: d.LatencyMS, LastError: d.LastError, CreatedAt: d.CreatedAt.UTC(), LastAttemptAt: optTime(d.LastAttemptAt),
	}
}

// list answers GET /api/v1/webhooks.
func (h *Webhooks) list(w http.ResponseWriter, r *http.Request) {
	list, err := h.Service.List(r.Context(), Caller(r.Context()).Actor, r.URL.Query().Get("organization_id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]WebhookEndpoint, 0, len(list))
	for _, e := range list {
		out = append(out, webhookToAPI(e))
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": out})
}

type webhookCreateBody struct {
	URL            string   `json:"url"`
	Events         []string `json:"events"`
	Description    string   `json:"description"`
	OrganizationID string   `json:"organization_id"`
}

// create answers POST /api/v1/webhooks with the signing secret, once.
func (h *Webhooks) create(w http.ResponseWriter, r *http.Request) {
	var body webhookCreateBody
	if !decode(w, r, &body) {
		return
	}
	actor := Caller(r.Context()).Actor
	req := webhook.CreateRequest{OrgID: actor.OrgID, URL: body.URL, Events: body.Events, Description: body.Description}
	if actor.IsAdmin() {
		req.OrgID = body.OrganizationID
	} else if body.OrganizationID != "" && body.OrganizationID != actor.OrgID {
		problem(w, r, http.StatusUnprocessableEntity, "Invalid request", "Webhook endpoints can only be created in your own organisation.",
			[]FieldError{{"organization_id", "Unknown organisation."}})
		return
	}
	created, err := h.Service.Create(r.Context(), actor, req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := webhookToAPI(created.Endpoint)
	out.SigningSecret = created.Secret
	w.Header().Set("Location", "/api/v1/webhooks/"+out.ID)
	writeJSON(w, http.StatusCreated, out)
}

// get answers GET /api/v1/webhooks/{id}.
func (h *Webhooks) get(w http.ResponseWriter, r *http.Request) {
	e, err := h.Service.Get(r.Context(), Caller(r.Context()).Actor, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, webhookToAPI(e))
}

type webhookUpdateBody struct {
	URL         *string   `json:"url"`
	Events      *[]string `json:"events"`
	Description *string   `json:"description"`
	Enabled     *bool     `json:"enabled"`
}

// update answers PATCH /api/v1/webhooks/{id}.
func (h *Webhooks) update(w http.ResponseWriter, r *http.Request) {
	var body webhookUpdateBody
	if !decode(w, r, &body) {
		return
	}
	e, err := h.Service.Update(r.Context(), Caller(r.Context()).Actor, r.PathValue("id"),
		webhook.UpdateRequest{URL: body.URL, Events: body.Events, Description: body.Description, Enabled: body.Enabled})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, webhookToAPI(e))
}

// delete answers DELETE /api/v1/webhooks/{id}.
func (h *Webhooks) delete(w http.ResponseWriter, r *http.Request) {
	if err := h.Service.Delete(r.Context(), Caller(r.Context()).Actor, r.PathValue("id")); err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// deliveries answers GET /api/v1/webhooks/{id}/deliveries.
func (h *Webhooks) deliveries(w http.ResponseWriter, r *http.Request) {
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			problem(w, r, http.StatusBadRequest, "Bad request", "limit must be a whole number from 1 to 100.", []FieldError{{"limit", "Give 1 to 100."}})
			return
		}
		limit = n
	}
	list, err := h.Service.Deliveries(r.Context(), Caller(r.Context()).Actor, r.PathValue("id"), limit)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]WebhookDelivery, 0, len(list))
	for _, d := range list {
		out = append(out, deliveryToAPI(d))
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": out})
}

// resend answers POST /api/v1/webhooks/{id}/deliveries/{delivery_id}/resend.
func (h *Webhooks) resend(w http.ResponseWriter, r *http.Request) {
	d, err := h.Service.Resend(r.Context(), Caller(r.Context()).Actor, r.PathValue("id"), r.PathValue("delivery_id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, deliveryToAPI(d))
}

// fail answers a service error as a problem.
func (h *Webhooks) fail(w http.ResponseWriter, r *http.Request, err error) {
	var verr *webhook.ValidationError
	switch {
	case errors.Is(err, webhook.ErrNotFound):
		problem(w, r, http.StatusNotFound, "Not found", "No webhook endpoint or delivery with this ID.", nil)
	case errors.As(err, &verr):
		field := verr.Field
		if field == "org" {
			field = "organization_id"
		}
		problem(w, r, http.StatusUnprocessableEntity, "Invalid request", verr.Message, []FieldError{{field, verr.Message}})
	default:
		h.Logger.ErrorContext(r.Context(), "api: webhooks", "err", err)
		problem(w, r, http.StatusInternalServerError, "Internal error", "The request could not be completed; try again.", nil)
	}
}
