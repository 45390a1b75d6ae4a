package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"sapient.dev/sapient/internal/credential"
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
	Created    *createdView   // the API Credentials or New secret dialog, open after a create or roll
	Revoke     *credentialRow // the revoke confirmation, open when asked without script
	Roll       rollView       // the Roll secret dialog, open when asked without script
	Edit       *editView      // the Edit API Credentials dialog
}

// credentialRow is one row of the Current API Credentials table.
type credentialRow struct {
	ClientID     string
	Name         string
	OrgID        string
	OrgName      string
	Scopes       []string
	AllowedCIDRs []string
	CreatedAt    time.Time
	CreatedBy    string
	LastUsedAt   time.Time // zero: never used
	LastUsed     string
	LastUsedIP   string
	Status       string // Active, Revoked or Expired
	RevokedAt    time.Time
	RevokedBy    string
	ExpiresAt    time.Time // zero: never
	// ExpiresSoon is the badge of an active credential that expires within
	// a week, for example "Expires in 3 days"; empty otherwise.
	ExpiresSoon string
	// OldSecretUntil is when the secret replaced by a roll stops working,
	// while it still works; zero otherwise.
	OldSecretUntil time.Time
}

// Active reports whether the row offers Edit and Roll secret.
func (r credentialRow) Active() bool { return r.Status == "Active" }

// Revocable reports whether the row offers Revoke.
func (r credentialRow) Revocable() bool { return r.Status != "Revoked" }

// expiryWarning is how far ahead the table warns of an expiry.
const expiryWarning = 7 * 24 * time.Hour

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
	q := r.URL.Query()
	for _, row := range v.Rows {
		switch {
		case row.ClientID == q.Get("revoked") && row.Status == "Revoked":
			p.Notice = fmt.Sprintf("API credentials “%s” are revoked: they can no longer obtain tokens, and the tokens they already have are refused.", row.Name)
		case row.ClientID == q.Get("saved"):
			p.Notice = fmt.Sprintf("Changes to API credentials “%s” saved. Tokens issued from now on carry them; tokens already issued lose any permission removed.", row.Name)
		}
	}
	c.render(w, r, http.StatusOK, "credentials", p)
}

// credentialsPage loads the table the person may see. filter is honoured
// for Admins only; a Customer always sees their own organisation.
func (c *Console) credentialsPage(ctx context.Context, s *session, filter string) (*credentialsView, error) {
	v := &credentialsView{Admin: s.Actor.IsAdmin(), Roll: rollView{Choices: overlapChoices(defaultOverlap)}}
	orgs, names, chosen, err := c.orgFilter(ctx, s, filter)
	if err != nil {
		return nil, err
	}
	v.Orgs, v.Filter, v.FilterName = orgs, chosen.ID, chosen.Name
	list, err := c.creds.List(ctx, s.Actor, v.Filter)
	if err != nil {
		return nil, err
	}
	now := c.now()
	v.Rows = make([]credentialRow, 0, len(list))
	for _, cr := range list {
		row := credentialRow{
			ClientID: cr.ClientID, Name: cr.Name, OrgID: cr.OrgID, OrgName: names[cr.OrgID], Scopes: cr.Scopes,
			AllowedCIDRs: cr.AllowedCIDRs, CreatedAt: cr.CreatedAt, CreatedBy: cr.CreatedBy,
			LastUsedAt: cr.LastUsedAt, LastUsed: "Never", LastUsedIP: cr.LastUsedIP, Status: "Active",
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
		default:
			if !cr.ExpiresAt.IsZero() && cr.ExpiresAt.Sub(now) <= expiryWarning {
				row.ExpiresSoon = expiresIn(cr.ExpiresAt.Sub(now))
			}
			if cr.PreviousSecretHash != "" && cr.PreviousSecretExpiresAt.After(now) {
				row.OldSecretUntil = cr.PreviousSecretExpiresAt
			}
		}
		v.Rows = append(v.Rows, row)
	}
	return v, nil
}

// expiresIn words the time left before an expiry within a week: "Expires
// in 3 days", or in hours on the last day.
func expiresIn(d time.Duration) string {
	if d < 24*time.Hour {
		h := int((d + time.Hour - 1) / time.Hour)
		if h == 1 {
			return "Expires in 1 hour"
		}
		return fmt.Sprintf("Expires in %d hours", h)
	}
	days := int(d / (24 * time.Hour))
	if days == 1 {
		return "Expires in 1 day"
	}
	return fmt.Sprintf("Expires in %d days", days)
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

// dialogPage is the API Credentials page under one of its dialogs: the
// table, and the Create API Credentials dialog ready (for orgID, when an
// Admin chose one).
func (c *Console) dialogPage(r *http.Request, s *session, orgID string) (*credentialsView, error) {
	v, err := c.credentialsPage(r.Context(), s, "")
	if err != nil {
		return nil, err
	}
	if v.Create, err = c.newCreateView(r.Context(), s, orgID); err != nil {
		return nil, err
	}
	return v, nil
}

// reachable loads the credentials with client ID id, or answers for itself:
// 404 for credentials that do not exist or that the person may not reach
// (the two look the same).
func (c *Console) reachable(w http.ResponseWriter, r *http.Request, s *session, id string) (store.Credential, bool) {
	cr, err := c.creds.Get(r.Context(), s.Actor, id)
	if errors.Is(err, credential.ErrNotFound) {
		c.renderError(w, r, s, http.StatusNotFound, "These API credentials do not exist.")
		return cr, false
	} else if err != nil {
		c.fail(w, r, s, err)
		return cr, false
	}
	return cr, true
}

// orgFilter is what a page that lists several organisations' data needs:
// for an Admin, every organisation and the one requested to filter by (if
// it exists); for a Customer, only their own. names maps the IDs the
// person may see to their names.
func (c *Console) orgFilter(ctx context.Context, s *session, requested string) (orgs []store.Org, names map[string]string, chosen store.Org, err error) {
	names = map[string]string{s.Org.ID: s.Org.Name}
	if !s.Actor.IsAdmin() {
		return nil, names, store.Org{}, nil
	}
	if orgs, err = c.store.ListOrgs(ctx); err != nil {
		return nil, nil, store.Org{}, err
	}
	for _, o := range orgs {
		names[o.ID] = o.Name
		if o.ID == requested {
			chosen = o
		}
	}
	return orgs, names, chosen, nil
}
