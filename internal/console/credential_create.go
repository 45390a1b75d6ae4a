package console

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"

	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/store"
)

// createView is the Create API Credentials dialog. An Admin first chooses
// the customer (Step "customer"), then everyone gives the Name and
// permissions (Step "details").
type createView struct {
	Open       bool // rendered open by the server (no script needed)
	Step       string
	Admin      bool
	Orgs       []store.Org // step "customer"
	OrgID      string
	OrgName    string
	Name       string
	Scopes     []scopeChoice
	Expires    string // the Expires field as typed: a date, 2006-01-02
	MinExpires string // the first date the Expires field offers
	AllowedIPs string // the Allowed IP addresses field as typed
	Error      string // a message for the whole dialog
	NameError  string // a message about the Name field
	ScopeError string // a message about the permissions
	// ExpiresError and IPsError are messages about the Expires and Allowed
	// IP addresses fields.
	ExpiresError, IPsError string
}

// scopeChoice is one permission checkbox.
type scopeChoice struct {
	Name        string
	Description string
	Checked     bool
	// Extra marks a scope an Admin may grant although the customer's
	// organisation may not: shown apart and unchecked by default.
	Extra bool
	// Locked marks a scope the credential holds that only an Admin may
	// change: shown checked and disabled to a Customer, and kept.
	Locked bool
}

// HasExtra reports whether any choice is an Admin-only extra.
func (v createView) HasExtra() bool {
	return slices.ContainsFunc(v.Scopes, func(s scopeChoice) bool { return s.Extra })
}

// credentialNew shows the Create API Credentials dialog as a page of its
// own, for browsers without script and for an Admin's second step.
func (c *Console) credentialNew(w http.ResponseWriter, r *http.Request, s *session) {
	orgID := r.URL.Query().Get("org")
	v, err := c.dialogPage(r, s, orgID)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	if v.Admin && orgID != "" && v.Create.Step == "customer" {
		v.Create.Error = "Choose the customer the credentials are for."
	}
	v.Create.Open = true
	c.render(w, r, http.StatusOK, "credentials", page{Title: "Create API Credentials", Nav: "credentials", S: s, Data: v})
}

// credentialCreate makes the credentials and answers with the API
// Credentials dialog showing the secret. The secret is in this one
// response only: it is answered to the POST directly, never stored, never
// put in a URL, and the response may not be cached.
func (c *Console) credentialCreate(w http.ResponseWriter, r *http.Request, s *session) {
	if err := r.ParseForm(); err != nil {
		c.renderError(w, r, s, http.StatusBadRequest, "The form could not be read. Please try again.")
		return
	}
	orgID := s.Actor.OrgID
	if s.Actor.IsAdmin() {
		orgID = r.PostFormValue("org")
	}
	// An empty, non-nil list: no box ticked means no permissions, not all.
	scopes := append([]string{}, r.PostForm["scope"]...)
	expires, err := parseExpires(r.PostFormValue("expires"))
	var verr *credential.ValidationError
	if errors.As(err, &verr) {
		c.createInvalid(w, r, s, orgID, scopes, verr)
		return
	}
	created, err := c.creds.Create(r.Context(), s.Actor, credential.CreateRequest{
		OrgID: orgID, Name: r.PostFormValue("name"), Scopes: scopes,
		ExpiresAt: expires, AllowedCIDRs: splitCIDRs(r.PostFormValue("allowed_ips")),
	})
	if errors.As(err, &verr) {
		c.createInvalid(w, r, s, orgID, scopes, verr)
		return
	} else if err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.log.InfoContext(r.Context(), "console: credentials created",
		"client_id", created.Credential.ClientID, "org", created.Credential.OrgID, "user", s.User.ID)

	v, err := c.dialogPage(r, s, "")
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	v.Created = &createdView{
		Name: created.Credential.Name, ClientID: created.Credential.ClientID, Secret: created.Secret,
		Scopes: created.Credential.Scopes,
	}
	c.render(w, r, http.StatusOK, "credentials", page{Title: "API Credentials", Nav: "credentials", S: s, Data: v})
}

// createdView is the API Credentials dialog, or after a roll the New
// secret dialog: the one time the secret is shown.
type createdView struct {
	Name     string
	ClientID string
	Secret   string
	Scopes   []string
	// Rolled marks a new secret of existing credentials; OldUntil is when
	// their old secret stops working (zero: it already has).
	Rolled   bool
	OldUntil time.Time
}

// createInvalid shows the Create API Credentials dialog again with the
// person's input and what to correct.
func (c *Console) createInvalid(w http.ResponseWriter, r *http.Request, s *session, orgID string, scopes []string, verr *credential.ValidationError) {
	v, err := c.dialogPage(r, s, orgID)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	cv := &v.Create
	cv.Open = true
	cv.Name = r.PostFormValue("name")
	cv.Expires, cv.AllowedIPs = r.PostFormValue("expires"), r.PostFormValue("allowed_ips")
	for i := range cv.Scopes {
		cv.Scopes[i].Checked = slices.Contains(scopes, cv.Scopes[i].Name)
	}
	switch verr.Field {
	case "name":
		cv.NameError = verr.Message
	case "scopes":
		cv.ScopeError = verr.Message
	case "expires_at":
		cv.ExpiresError = verr.Message
	case "allowed_cidrs":
		cv.IPsError = verr.Message
	default:
		cv.Error = verr.Message
	}
	c.render(w, r, http.StatusUnprocessableEntity, "credentials", page{Title: "Create API Credentials", Nav: "credentials", S: s, Data: v})
}

// parseExpires reads the Expires field: a date, at whose start (00:00 UTC)
// the credentials stop working; empty means never.
func parseExpires(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, &credential.ValidationError{Field: "expires_at", Message: "Enter a date such as 2026-12-31, or leave Expires empty."}
	}
	return t, nil
}

// splitCIDRs reads the Allowed IP addresses field: one address or CIDR a
// line (commas and spaces also separate them).
func splitCIDRs(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
}

// newCreateView prepares a fresh Create API Credentials dialog. For an
// Admin, orgID is the customer already chosen ("" or unknown: ask first).
func (c *Console) newCreateView(ctx context.Context, s *session, orgID string) (createView, error) {
	v := createView{Admin: s.Actor.IsAdmin(), Step: "details", MinExpires: c.now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)}
	org := s.Org
	if v.Admin {
		orgs, err := c.store.ListOrgs(ctx)
		if err != nil {
			return v, err
		}
		v.Orgs = orgs
		i := slices.IndexFunc(orgs, func(o store.Org) bool { return o.ID == orgID })
		if i < 0 {
			v.Step = "customer"
			return v, nil
		}
		org = orgs[i]
	}
	v.OrgID, v.OrgName = org.ID, org.Name
	var err error
	v.Scopes, err = c.scopeChoices(ctx, s, org)
	return v, err
}

// scopeChoices are the permission checkboxes for a credential of org: the
// scopes the organisation may grant, checked, and for an Admin every other
// defined scope as an unchecked extra.
func (c *Console) scopeChoices(ctx context.Context, s *session, org store.Org) ([]scopeChoice, error) {
	grantable, err := c.creds.Grantable(ctx, org)
	if err != nil {
		return nil, err
	}
	defined, err := c.store.ListScopes(ctx)
	if err != nil {
		return nil, err
	}
	var out []scopeChoice
	for _, d := range defined {
		switch {
		case slices.Contains(grantable, d.Name):
			out = append(out, scopeChoice{Name: d.Name, Description: d.Description, Checked: true})
		case s.Actor.IsAdmin():
			out = append(out, scopeChoice{Name: d.Name, Description: d.Description, Extra: true})
		}
	}
	return out, nil
}
