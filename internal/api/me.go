package api

import (
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"sapient.dev/sapient/internal/store"
)

// Me answers GET /api/v1/me: who is calling.
type Me struct {
	Orgs   store.Orgs
	Logger *slog.Logger
	Now    func() time.Time

	mu    sync.Mutex
	names map[string]orgName
}

type orgName struct {
	name    string
	fetched time.Time
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
	v := Caller(r.Context())
	name, err := h.orgName(r, v.Claims.OrgID)
	if err != nil {
		h.Logger.ErrorContext(r.Context(), "me: organisation lookup", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily_unavailable"})
		return
	}
	scopes := strings.Fields(v.Claims.Scope)
	if scopes == nil {
		scopes = []string{}
	}
	writeJSON(w, http.StatusOK, meResponse{
		ClientID: v.Claims.ClientID, Name: v.Credential.Name,
		Organization: organization{ID: v.Claims.OrgID, Name: name},
		Scopes:       scopes,
		ExpiresAt:    time.Unix(v.Claims.ExpiresAt, 0).UTC(),
		IssuedAt:     time.Unix(v.Claims.IssuedAt, 0).UTC(),
	})
}

// orgName returns an organisation's name from memory, refreshed each minute.
func (h *Me) orgName(r *http.Request, id string) (string, error) {
	now := h.Now()
	h.mu.Lock()
	n, ok := h.names[id]
	h.mu.Unlock()
	if ok && now.Sub(n.fetched) < time.Minute {
		return n.name, nil
	}
	o, err := h.Orgs.GetOrg(r.Context(), id)
	if err != nil {
		return "", err
	}
	h.mu.Lock()
	if h.names == nil {
		h.names = map[string]orgName{}
	}
	h.names[id] = orgName{o.Name, now}
	h.mu.Unlock()
	return o.Name, nil
}
