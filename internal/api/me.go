package api

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"sapient.dev/sapient/internal/credential"
)

// Me answers GET /api/v1/me: who is calling.
type Me struct {
	Orgs   *credential.OrgCache
	Logger *slog.Logger
}

// meResponse describes the caller.
type meResponse struct {
	ClientID     string       `json:"client_id"`
	Name         string       `json:"name"`
	Organization organization `json:"organization"`
	Scopes       []string     `json:"scopes"`
	ExpiresAt    time.Time    `json:"expires_at"`
	IssuedAt     time.Time    `json:"issued_at"`
}

type organization struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

func (h *Me) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	v := Caller(r.Context()).Token
	org, err := h.Orgs.Lookup(r.Context(), v.Claims.OrgID)
	if err != nil {
		h.Logger.ErrorContext(r.Context(), "me: organisation lookup", "err", err)
		problem(w, r, http.StatusServiceUnavailable, "Temporarily unavailable", "Try again shortly.", nil)
		return
	}
	scopes := strings.Fields(v.Scope)
	if scopes == nil {
		scopes = []string{}
	}
	writeJSON(w, http.StatusOK, meResponse{
		ClientID: v.Claims.ClientID, Name: v.Credential.Name,
		Organization: organization{ID: org.ID, Name: org.Name},
		Scopes:       scopes,
		ExpiresAt:    time.Unix(v.Claims.ExpiresAt, 0).UTC(),
		IssuedAt:     time.Unix(v.Claims.IssuedAt, 0).UTC(),
	})
}
