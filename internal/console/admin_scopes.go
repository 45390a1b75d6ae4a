package console

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"sapient.dev/sapient/internal/scope"
	"sapient.dev/sapient/internal/store"
)

// scopesView is the data of Admin > Scopes.
type scopesView struct {
	Scopes []store.Scope
	Form   scopeForm
}

// scopeForm is the create form with what was typed and what to correct.
type scopeForm struct {
	Name, Description string
	NameError         string
	DescriptionError  string
}

// scopeList shows every scope and the form to define one.
func (c *Console) scopeList(w http.ResponseWriter, r *http.Request, s *session) {
	list, err := c.store.ListScopes(r.Context())
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	p := page{Title: "Scopes", Nav: "scopes", S: s, Data: scopesView{Scopes: list}}
	if name := r.URL.Query().Get("created"); name != "" && scope.ValidName(name) {
		p.Notice = fmt.Sprintf("Scope %s defined. Allow customers to grant it in Admin > Customers.", name)
	}
	c.render(w, r, http.StatusOK, "admin_scopes", p)
}

// scopeCreate defines a scope for the Admin's own APIs.
func (c *Console) scopeCreate(w http.ResponseWriter, r *http.Request, s *session) {
	form := scopeForm{Name: strings.TrimSpace(r.PostFormValue("name")), Description: strings.TrimSpace(r.PostFormValue("description"))}
	_, err := scope.Create(r.Context(), c.store, s.Actor, form.Name, form.Description, c.now())
	switch {
	case err == nil:
		c.log.InfoContext(r.Context(), "console: scope defined", "scope", form.Name, "user", s.User.ID)
		http.Redirect(w, r, "/admin/scopes?created="+url.QueryEscape(form.Name), http.StatusSeeOther)
		return
	case errors.Is(err, scope.ErrDescriptionTooLong):
		form.DescriptionError = fmt.Sprintf("Description may have at most %d characters.", scope.MaxDescriptionLen)
	case errors.As(err, new(*scope.DescriptionError)):
		var derr *scope.DescriptionError
		errors.As(err, &derr)
		form.DescriptionError = derr.Message
	case errors.Is(err, scope.ErrInvalidName):
		form.NameError = "Name must be 1 to 64 characters of a-z, 0-9 and . _ - : / starting with a letter or digit, for example shipments:read."
	case errors.Is(err, store.ErrAlreadyExists):
		form.NameError = fmt.Sprintf("The scope %s already exists.", form.Name)
	default:
		c.fail(w, r, s, err)
		return
	}
	list, lerr := c.store.ListScopes(r.Context())
	if lerr != nil {
		c.fail(w, r, s, lerr)
		return
	}
	c.render(w, r, http.StatusUnprocessableEntity, "admin_scopes", page{Title: "Scopes", Nav: "scopes", S: s, Data: scopesView{Scopes: list, Form: form}})
}
