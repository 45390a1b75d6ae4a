package console

import (
	"errors"
	"net/http"
	"strings"

	"sapient.dev/sapient/internal/sso"
	"sapient.dev/sapient/internal/store"
)

// ssoView is the data of Admin > Single sign-on.
type ssoView struct {
	Providers []store.SSOProvider
	Orgs      []store.Org
	OrgNames  map[string]string
	Form      ssoForm
	Error     string
	Redirect  func(id string) string
}

// ssoForm is what was typed in Add provider, but the secret.
type ssoForm struct{ Name, Issuer, ClientID, OrgID, Domains, AdminEmails string }

func (c *Console) ssoPage(w http.ResponseWriter, r *http.Request, s *session, status int, v ssoView, notice string) {
	list, err := c.sso.List(r.Context(), s.Actor)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	orgs, err := c.store.ListOrgs(r.Context())
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	v.Providers, v.Orgs, v.OrgNames, v.Redirect = list, orgs, map[string]string{}, c.sso.RedirectURL
	for _, o := range orgs {
		v.OrgNames[o.ID] = o.Name
	}
	c.render(w, r, status, "admin_sso", page{Title: "Single sign-on", Nav: "sso", S: s, Data: v, Notice: notice})
}

// ssoList shows the providers and the form to add one.
func (c *Console) ssoList(w http.ResponseWriter, r *http.Request, s *session) {
	notice := ""
	switch r.URL.Query().Get("done") {
	case "added":
		notice = "Provider added: its sign-in button is on the login page."
	case "removed":
		notice = "Provider removed. The people it created keep their users."
	}
	c.ssoPage(w, r, s, http.StatusOK, ssoView{}, notice)
}

// ssoAdd adds a provider.
func (c *Console) ssoAdd(w http.ResponseWriter, r *http.Request, s *session) {
	f := ssoForm{Name: r.PostFormValue("name"), Issuer: r.PostFormValue("issuer"), ClientID: r.PostFormValue("client_id"),
		OrgID: r.PostFormValue("org"), Domains: r.PostFormValue("domains"), AdminEmails: r.PostFormValue("admin_emails")}
	_, err := c.sso.Add(r.Context(), s.Actor, sso.AddRequest{Name: f.Name, Issuer: f.Issuer, ClientID: f.ClientID,
		ClientSecret: r.PostFormValue("client_secret"), OrgID: f.OrgID,
		Domains: strings.Fields(f.Domains), AdminEmails: strings.Fields(f.AdminEmails)})
	var verr *sso.ValidationError
	switch {
	case err == nil:
		http.Redirect(w, r, "/admin/sso?done=added", http.StatusSeeOther)
	case errors.As(err, &verr):
		c.ssoPage(w, r, s, http.StatusUnprocessableEntity, ssoView{Form: f, Error: verr.Message}, "")
	default:
		c.fail(w, r, s, err)
	}
}

// ssoRemove removes a provider.
func (c *Console) ssoRemove(w http.ResponseWriter, r *http.Request, s *session) {
	err := c.sso.Remove(r.Context(), s.Actor, r.PathValue("id"))
	switch {
	case errors.Is(err, sso.ErrNotFound):
		c.renderError(w, r, s, http.StatusNotFound, "This provider does not exist.")
	case err != nil:
		c.fail(w, r, s, err)
	default:
		http.Redirect(w, r, "/admin/sso?done=removed", http.StatusSeeOther)
	}
}
