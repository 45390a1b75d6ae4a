package console

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"sapient.dev/sapient/internal/store"
)

// credentialsView is the data of the API Credentials page and its dialogs.
type credentialsView struct {
	Admin      bool
	Rows       []credentialRow
	Orgs       []store.Org // Admin: the organisation filter's choices
	Filter     string      // Admin: the organisation shown, "" for all
	FilterName string
	Create     createView     // the Create API Credentials dialog
	Created    *createdView   // the API Credentials dialog, open after a create
	Revoke     *credentialRow // the revoke confirmation, open when asked without script
}

// credentialRow is one row of the Current API Credentials table.
type credentialRow struct {
	ClientID   string
	Name       string
	OrgName    string
	Scopes     []string
	CreatedAt  time.Time
	CreatedBy  string
	LastUsedAt time.Time // zero: never used
	LastUsed   string
	Status     string // Active, Revoked or Expired
	RevokedAt  time.Time
	RevokedBy  string
	ExpiresAt  time.Time
}

// Revocable reports whether the row offers Revoke.
func (r credentialRow) Revocable() bool { return r.Status != "Revoked" }

// credentialList shows the API Credentials page.
func (c *Console) credentialList(w http.ResponseWriter, r *http.Request, s *session) {
	v, err := c.credentialsPage(r.Context(), s, r.URL.Query().Get("org"))
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	if v.Create, err = c.newCreateView(r.Context(), s, v.Filter); err != nil {
		c.fail(w, r, s, err)
		return
	}
	p := page{Title: "API Credentials", Nav: "credentials", S: s, Data: v}
	if id := r.URL.Query().Get("revoked"); id != "" {
		for _, row := range v.Rows {
			if row.ClientID == id && row.Status == "Revoked" {
				p.Notice = fmt.Sprintf("API credentials “%s” are revoked: they can no longer obtain tokens, and the tokens they already have are refused.", row.Name)
			}
		}
	}
	c.render(w, r, http.StatusOK, "credentials", p)
}

// credentialsPage loads the table the person may see. filter is honoured
// for Admins only; a Customer always sees their own organisation.
func (c *Console) credentialsPage(ctx context.Context, s *session, filter string) (*credentialsView, error) {
	v := &credentialsView{Admin: s.Actor.IsAdmin()}
	names := map[string]string{s.Org.ID: s.Org.Name}
	if v.Admin {
		orgs, err := c.store.ListOrgs(ctx)
		if err != nil {
			return nil, err
		}
		v.Orgs = orgs
		for _, o := range orgs {
			names[o.ID] = o.Name
			if o.ID == filter {
				v.Filter, v.FilterName = o.ID, o.Name
			}
		}
	}
	list, err := c.creds.List(ctx, s.Actor, v.Filter)
	if err != nil {
		return nil, err
	}
	now := c.now()
	v.Rows = make([]credentialRow, 0, len(list))
	for _, cr := range list {
		row := credentialRow{
			ClientID: cr.ClientID, Name: cr.Name, OrgName: names[cr.OrgID], Scopes: cr.Scopes,
			CreatedAt: cr.CreatedAt, CreatedBy: cr.CreatedBy, LastUsedAt: cr.LastUsedAt,
			LastUsed: "Never", Status: "Active",
			RevokedAt: cr.RevokedAt, RevokedBy: cr.RevokedBy, ExpiresAt: cr.ExpiresAt,
		}
		if !cr.LastUsedAt.IsZero() {
			row.LastUsed = ago(now, cr.LastUsedAt)
		}
		switch {
		case !cr.RevokedAt.IsZero():
			row.Status = "Revoked"
		case !cr.Active(now):
			row.Status = "Expired"
		}
		v.Rows = append(v.Rows, row)
	}
	return v, nil
}

// ago says how long before now t was, in words.
func ago(now, t time.Time) string {
	d := now.Sub(t)
	plural := func(n int, unit string) string {
		if n == 1 {
			return "1 " + unit + " ago"
		}
		return fmt.Sprintf("%d %ss ago", n, unit)
	}
	switch {
	case d < time.Minute:
		return "Just now"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute")
	case d < 24*time.Hour:
		return plural(int(d/time.Hour), "hour")
	case d < 30*24*time.Hour:
		return plural(int(d/(24*time.Hour)), "day")
	default:
		return t.UTC().Format("2 Jan 2006")
	}
}
