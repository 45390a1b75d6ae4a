package api

import (
	"net/http"
	"time"

	"sapient.dev/sapient/internal/jsonw"
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
	writeMe(w, &meResponse{
		ClientID: v.Claims.ClientID, Name: v.Credential.Name,
		Organization: organization{ID: org.ID, Name: org.Name},
		Scopes:       scopes,
		ExpiresAt:    time.Unix(v.Claims.ExpiresAt, 0).UTC(),
		IssuedAt:     time.Unix(v.Claims.IssuedAt, 0).UTC(),
	})
}

// writeMe answers 200 with m: the bytes writeJSON would send
// (json.Encoder's output, newline included), built without reflection, as
// this is the answer to the smallest and most frequent protected call.
func writeMe(w http.ResponseWriter, m *meResponse) {
	b := make([]byte, 0, 256+len(m.Name)+16*len(m.Scopes))
	b = append(b, `{"client_id":`...)
	b = jsonw.String(b, m.ClientID)
	b = append(b, `,"name":`...)
	b = jsonw.String(b, m.Name)
	b = append(b, `,"organization":{"id":`...)
	b = jsonw.String(b, m.Organization.ID)
	b = append(b, `,"name":`...)
	b = jsonw.String(b, m.Organization.Name)
	b = append(b, `},"scopes":[`...)
	for i, s := range m.Scopes {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonw.String(b, s)
	}
	b = append(b, `],"expires_at":`...)
	b = jsonw.Time(b, m.ExpiresAt)
	b = append(b, `,"issued_at":`...)
	b = jsonw.Time(b, m.IssuedAt)
	b = append(b, "}\n"...)
	h := w.Header()
	h["Content-Type"] = []string{"application/json; charset=utf-8"}
	h["Cache-Control"] = []string{"no-store"}
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}
