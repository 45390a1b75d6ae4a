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
	// The times are whole seconds, written as RFC 3339 text here: what
	// time.Time's MarshalJSON writes for them, at less than half the cost
	// of the whole response (see docs/BENCHMARKS.md).
	ExpiresAt string `json:"expires_at"`
	IssuedAt  string `json:"issued_at"`
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
		ExpiresAt:    rfc3339(v.Claims.ExpiresAt),
		IssuedAt:     rfc3339(v.Claims.IssuedAt),
	})
}

// rfc3339 writes a time in Unix seconds as RFC 3339 text in UTC.
func rfc3339(unix int64) string {
	return time.Unix(unix, 0).UTC().Format(time.RFC3339)
}
