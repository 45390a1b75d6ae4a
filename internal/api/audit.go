package api

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"sapient.dev/sapient/internal/audit"
)

// AuditLog serves GET /api/v1/audit: the audit trail of the caller's
// organisation, newest first, a page at a time.
type AuditLog struct {
	Service *audit.Service
	Logger  *slog.Logger
}

// AuditEvent is one entry of the trail as the API shows it.
type AuditEvent struct {
	ID             string    `json:"id"`
	At             time.Time `json:"at"`
	OrganizationID string    `json:"organization_id,omitempty"`
	Actor          struct {
		Kind  string `json:"kind"`
		ID    string `json:"id"`
		Label string `json:"label"`
	} `json:"actor"`
	Action    string `json:"action"`
	Target    string `json:"target,omitempty"`
	IP        string `json:"ip,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
	Detail    string `json:"detail,omitempty"`
}

func (h *AuditLog) list(w http.ResponseWriter, r *http.Request) {
	actor := Caller(r.Context()).Actor
	q := r.URL.Query()
	f := audit.Query{OrgID: q.Get("organization_id"), Action: q.Get("action"), BeforeID: q.Get("before_id"), Limit: 100}
	var bad []FieldError
	for name, into := range map[string]*time.Time{"from": &f.From, "to": &f.To, "before": &f.Before} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				bad = append(bad, FieldError{name, "Use an RFC 3339 time."})
				continue
			}
			*into = t
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > audit.MaxPage {
			bad = append(bad, FieldError{"limit", "Use a number from 1 to 1000."})
		}
		f.Limit = n
	}
	if len(bad) > 0 {
		problem(w, r, http.StatusUnprocessableEntity, "Invalid request", bad[0].Message, bad)
		return
	}
	events, err := h.Service.List(r.Context(), actor, f)
	if errors.Is(err, audit.ErrNoOrganisation) {
		problem(w, r, http.StatusForbidden, "Forbidden", "No organisation.", nil)
		return
	} else if err != nil {
		h.Logger.ErrorContext(r.Context(), "api: audit", "err", err)
		problem(w, r, http.StatusInternalServerError, "Internal error", "Try again.", nil)
		return
	}
	out := make([]AuditEvent, 0, len(events))
	for _, e := range events {
		a := AuditEvent{ID: e.ID, At: e.At, OrganizationID: e.OrgID, Action: e.Action, Target: e.Target,
			IP: e.IP, UserAgent: e.UserAgent, Detail: e.Detail}
		a.Actor.Kind, a.Actor.ID, a.Actor.Label = e.ActorKind, e.ActorID, e.ActorLabel
		out = append(out, a)
	}
	resp := map[string]any{"data": out}
	if len(events) == f.Limit {
		last := events[len(events)-1]
		resp["next_before"], resp["next_before_id"] = last.At.Format(time.RFC3339Nano), last.ID
	}
	writeJSON(w, http.StatusOK, resp)
}
