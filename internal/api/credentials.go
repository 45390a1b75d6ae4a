package api

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/store"
)

// Credentials serves /api/v1/credentials. Every handler calls
// credential.Service with the caller's actor, so organisation isolation
// and the rules are the same as in the console and the CLI.
type Credentials struct {
	Service *credential.Service
	Logger  *slog.Logger
	Now     func() time.Time
}

// Credential is a credential as the API shows it. It never holds a secret,
// except ClientSecret in the one response that creates one.
type Credential struct {
	ClientID                string     `json:"client_id"`
	Name                    string     `json:"name"`
	OrganizationID          string     `json:"organization_id"`
	Scopes                  []string   `json:"scopes"`
	Status                  string     `json:"status"`
	AllowedCIDRs            []string   `json:"allowed_cidrs"`
	CreatedAt               time.Time  `json:"created_at"`
	CreatedBy               string     `json:"created_by"`
	ExpiresAt               *time.Time `json:"expires_at,omitempty"`
	LastUsedAt              *time.Time `json:"last_used_at,omitempty"`
	LastUsedIP              string     `json:"last_used_ip,omitempty"`
	RevokedAt               *time.Time `json:"revoked_at,omitempty"`
	RevokedBy               string     `json:"revoked_by,omitempty"`
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at,omitempty"`
	ClientSecret            string     `json:"client_secret,omitempty"`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func toAPI(c store.Credential, now time.Time) Credential {
	out := Credential{
		ClientID: c.ClientID, Name: c.Name, OrganizationID: c.OrgID, Scopes: c.Scopes, Status: c.Status(now),
		AllowedCIDRs: c.AllowedCIDRs, CreatedAt: c.CreatedAt.UTC(), CreatedBy: c.CreatedBy,
		ExpiresAt: optTime(c.ExpiresAt), LastUsedAt: optTime(c.LastUsedAt), LastUsedIP: c.LastUsedIP,
		RevokedAt: optTime(c.RevokedAt), RevokedBy: c.RevokedBy,
	}
	if c.PreviousSecretHash != "" && now.Before(c.PreviousSecretExpiresAt) {
		out.PreviousSecretExpiresAt = optTime(c.PreviousSecretExpiresAt)
	}
	if out.Scopes == nil {
		out.Scopes = []string{}
	}
	if out.AllowedCIDRs == nil {
		out.AllowedCIDRs = []string{}
	}
	return out
}

// list answers GET /api/v1/credentials.
func (h *Credentials) list(w http.ResponseWriter, r *http.Request) {
	actor := Caller(r.Context()).Actor
	list, err := h.Service.List(r.Context(), actor, r.URL.Query().Get("organization_id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	now := h.Now()
	out := make([]Credential, 0, len(list))
	for _, c := range list {
		out = append(out, toAPI(c, now))
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": out})
}

// get answers GET /api/v1/credentials/{client_id}.
func (h *Credentials) get(w http.ResponseWriter, r *http.Request) {
	c, err := h.Service.Get(r.Context(), Caller(r.Context()).Actor, r.PathValue("client_id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toAPI(c, h.Now()))
}

type createBody struct {
	Name           string     `json:"name"`
	Scopes         *[]string  `json:"scopes"`
	ExpiresAt      *time.Time `json:"expires_at"`
	AllowedCIDRs   []string   `json:"allowed_cidrs"`
	OrganizationID string     `json:"organization_id"`
}

// create answers POST /api/v1/credentials with the secret, once.
func (h *Credentials) create(w http.ResponseWriter, r *http.Request) {
	var body createBody
	if !decode(w, r, &body) {
		return
	}
	actor := Caller(r.Context()).Actor
	req := credential.CreateRequest{OrgID: actor.OrgID, Name: body.Name, AllowedCIDRs: body.AllowedCIDRs}
	if actor.IsAdmin() {
		req.OrgID = body.OrganizationID
	} else if body.OrganizationID != "" && body.OrganizationID != actor.OrgID {
		problem(w, r, http.StatusUnprocessableEntity, "Invalid request", "Credentials can only be created in your own organisation.",
			[]FieldError{{"organization_id", "Unknown organisation."}})
		return
	}
	if body.Scopes != nil {
		req.Scopes = append([]string{}, *body.Scopes...)
	}
	if body.ExpiresAt != nil {
		req.ExpiresAt = *body.ExpiresAt
	}
	created, err := h.Service.Create(r.Context(), actor, req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := toAPI(created.Credential, h.Now())
	out.ClientSecret = created.Secret
	w.Header().Set("Location", "/api/v1/credentials/"+out.ClientID)
	writeJSON(w, http.StatusCreated, out)
}

type updateBody struct {
	Name         *string   `json:"name"`
	Scopes       *[]string `json:"scopes"`
	AllowedCIDRs *[]string `json:"allowed_cidrs"`
}

// update answers PATCH /api/v1/credentials/{client_id}.
func (h *Credentials) update(w http.ResponseWriter, r *http.Request) {
	var body updateBody
	if !decode(w, r, &body) {
		return
	}
	req := credential.UpdateRequest{Name: body.Name}
	if body.Scopes != nil {
		req.Scopes = append([]string{}, *body.Scopes...)
	}
	if body.AllowedCIDRs != nil {
		req.AllowedCIDRs = append([]string{}, *body.AllowedCIDRs...)
	}
	c, err := h.Service.Update(r.Context(), Caller(r.Context()).Actor, r.PathValue("client_id"), req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toAPI(c, h.Now()))
}

// revoke answers DELETE /api/v1/credentials/{client_id}: the credential is
// revoked and stays listed as revoked.
func (h *Credentials) revoke(w http.ResponseWriter, r *http.Request) {
	c, err := h.Service.Revoke(r.Context(), Caller(r.Context()).Actor, r.PathValue("client_id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toAPI(c, h.Now()))
}

type rollBody struct {
	// PreviousSecretExpiresIn is how long the old secret keeps working:
	// "0s" (at once), "1h", "24h" or "168h".
	PreviousSecretExpiresIn string `json:"previous_secret_expires_in"`
}

// RollOverlaps are the choices for how long an old secret keeps working.
var RollOverlaps = credential.RollOverlaps

// roll answers POST /api/v1/credentials/{client_id}/roll with the new
// secret, once.
func (h *Credentials) roll(w http.ResponseWriter, r *http.Request) {
	var body rollBody
	if !decode(w, r, &body) {
		return
	}
	overlap, err := time.ParseDuration(cmpOrS(body.PreviousSecretExpiresIn, "0s"))
	valid := err == nil
	if valid {
		valid = false
		for _, d := range RollOverlaps {
			valid = valid || d == overlap
		}
	}
	if !valid {
		problem(w, r, http.StatusUnprocessableEntity, "Invalid request", "The old secret can keep working for 0s, 1h, 24h or 168h.",
			[]FieldError{{"previous_secret_expires_in", "Choose 0s, 1h, 24h or 168h."}})
		return
	}
	created, err := h.Service.Roll(r.Context(), Caller(r.Context()).Actor, r.PathValue("client_id"), overlap)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := toAPI(created.Credential, h.Now())
	out.ClientSecret = created.Secret
	writeJSON(w, http.StatusOK, out)
}

func cmpOrS(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// fail answers a service error as a problem.
func (h *Credentials) fail(w http.ResponseWriter, r *http.Request, err error) {
	var verr *credential.ValidationError
	switch {
	case errors.Is(err, credential.ErrNotFound):
		problem(w, r, http.StatusNotFound, "Not found", "No credential with this client ID.", nil)
	case errors.As(err, &verr):
		field := verr.Field
		if field == "org" { // the service's name for what the API calls organization_id
			field = "organization_id"
		}
		problem(w, r, http.StatusUnprocessableEntity, "Invalid request", verr.Message, []FieldError{{field, verr.Message}})
	default:
		h.Logger.ErrorContext(r.Context(), "api: credentials", "err", err)
		problem(w, r, http.StatusInternalServerError, "Internal error", "The request could not be completed; try again.", nil)
	}
}
