package api

import (
	"net/http"
	"time"
)

// Me answers GET /api/v1/me: who is calling.
type Me struct{}

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
	p := Caller(r.Context())
	v := p.Token
	org := v.Org             // found by the token check
	scopes := p.Actor.Scopes // strings.Fields(v.Scope), split once by Auth
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
