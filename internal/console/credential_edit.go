package console

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/store"
)

// editView is the Edit API Credentials dialog: Name, permissions and
// allowed IP addresses of one credential.
type editView struct {
	ClientID   string
	Admin      bool
	OrgName    string
	Name       string
	Scopes     []scopeChoice
	AllowedIPs string
	Error      string // a message for the whole dialog
	NameError  string
	ScopeError string
	IPsError   string
}

// HasExtra reports whether any choice is an Admin-only extra.
func (v editView) HasExtra() bool {
	return slices.ContainsFunc(v.Scopes, func(s scopeChoice) bool { return s.Extra })
}

// credentialEditForm shows the Edit API Credentials dialog, open on the API
// Credentials page, with the credential's current values.
func (c *Console) credentialEditForm(w http.ResponseWriter, r *http.Request, s *session) {
	cr, ok := c.editable(w, r, s)
	if !ok {
		return
	}
	ev, err := c.newEditView(r, s, cr, cr.Scopes)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	ev.Name, ev.AllowedIPs = cr.Name, strings.Join(cr.AllowedCIDRs, "\n")
	c.renderEdit(w, r, s, http.StatusOK, ev)
}

// credentialEdit saves the dialog through credential.Service.Update, the
// same rule the REST API and the CLI use, and returns to the table.
func (c *Console) credentialEdit(w http.ResponseWriter, r *http.Request, s *session) {
	if err := r.ParseForm(); err != nil {
		c.renderError(w, r, s, http.StatusBadRequest, "The form could not be read. Please try again.")
		return
	}
	cr, ok := c.editable(w, r, s)
	if !ok {
		return
	}
	name := r.PostFormValue("name")
	scopes := credential.ParseScopes(strings.Join(r.PostForm["scope"], " "))
	req := credential.UpdateRequest{
		Name: &name,
		// A non-nil empty list: no address given means from anywhere.
		AllowedCIDRs: append([]string{}, splitCIDRs(r.PostFormValue("allowed_ips"))...),
	}
	// Scopes are sent only when they change, so that a Customer can rename
	// credentials holding a permission only an Admin may grant.
	if !slices.Equal(scopes, credential.ParseScopes(strings.Join(cr.Scopes, " "))) {
		req.Scopes = append([]string{}, scopes...)
	}
	updated, err := c.creds.Update(r.Context(), s.Actor, cr.ClientID, req)
	var verr *credential.ValidationError
	switch {
	case errors.Is(err, credential.ErrNotFound):
		c.renderError(w, r, s, http.StatusNotFound, "These API credentials do not exist.")
		return
	case errors.As(err, &verr):
		ev, err := c.newEditView(r, s, cr, scopes)
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		ev.Name, ev.AllowedIPs = name, r.PostFormValue("allowed_ips")
		switch verr.Field {
		case "name":
			ev.NameError = verr.Message
		case "scopes":
			ev.ScopeError = verr.Message
		case "allowed_cidrs":
			ev.IPsError = verr.Message
		default:
			ev.Error = verr.Message
		}
		c.renderEdit(w, r, s, http.StatusUnprocessableEntity, ev)
		return
	case err != nil:
		c.fail(w, r, s, err)
		return
	}
	c.log.InfoContext(r.Context(), "console: credentials changed", "client_id", updated.ClientID, "user", s.User.ID)
	http.Redirect(w, r, "/credentials?saved="+url.QueryEscape(updated.ClientID), http.StatusSeeOther)
}

// editable loads the active credentials of the request's path for a
// change (edit, roll), or answers for itself: 404 for credentials the person may not reach, back
// to the table for credentials that are no longer active.
func (c *Console) editable(w http.ResponseWriter, r *http.Request, s *session) (store.Credential, bool) {
	cr, ok := c.reachable(w, r, s, r.PathValue("id"))
	if !ok {
		return cr, false
	}
	if !cr.Active(c.now()) {
		http.Redirect(w, r, "/credentials", http.StatusSeeOther)
		return cr, false
	}
	return cr, true
}

// newEditView prepares the dialog for cr with the scopes in checked ticked.
// A scope cr holds that the person may not grant (for a Customer, one
// reserved for Admins or withdrawn from the organisation) is shown locked:
// it is kept, and only an Admin can change the permissions around it.
func (c *Console) newEditView(r *http.Request, s *session, cr store.Credential, checked []string) (*editView, error) {
	o, err := c.store.GetOrg(r.Context(), cr.OrgID)
	if err != nil {
		return nil, err
	}
	choices, err := c.scopeChoices(r.Context(), s, o)
	if err != nil {
		return nil, err
	}
	for i := range choices {
		choices[i].Checked = slices.Contains(checked, choices[i].Name)
	}
	defined, err := c.store.ListScopes(r.Context())
	if err != nil {
		return nil, err
	}
	for _, d := range defined {
		held := slices.Contains(cr.Scopes, d.Name)
		if held && !slices.ContainsFunc(choices, func(ch scopeChoice) bool { return ch.Name == d.Name }) {
			choices = append(choices, scopeChoice{Name: d.Name, Description: d.Description, Checked: true, Locked: true})
		}
	}
	return &editView{ClientID: cr.ClientID, Admin: s.Actor.IsAdmin(), OrgName: o.Name, Scopes: choices}, nil
}

// renderEdit shows the API Credentials page with the Edit dialog open.
func (c *Console) renderEdit(w http.ResponseWriter, r *http.Request, s *session, status int, ev *editView) {
	v, err := c.dialogPage(r, s, "")
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	v.Edit = ev
	c.render(w, r, status, "credentials", page{Title: "Edit API Credentials", Nav: "credentials", S: s, Data: v})
}
