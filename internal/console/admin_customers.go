package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"sapient.dev/sapient/internal/org"
	"sapient.dev/sapient/internal/scope"
	"sapient.dev/sapient/internal/store"
)

// customersView is the data of Admin > Customers.
type customersView struct {
	Rows   []customerRow
	Form   customerForm
	Scopes []store.Scope // scopes a customer may be allowed to grant
}

// customerRow is one organisation in the table.
type customerRow struct {
	Org         store.Org
	Users       int
	Credentials int // active
}

// customerForm is the create form, or the edit form of one customer.
type customerForm struct {
	ID        string
	Name      string
	Scopes    []string // checked
	NameError string
	Error     string
	// LeakAction is what a reported leak does: store.LeakRevoke or
	// store.LeakRoll (edit form only).
	LeakAction string
}

// customerList shows every organisation and the form to create one.
func (c *Console) customerList(w http.ResponseWriter, r *http.Request, s *session) {
	v, err := c.customersView(r.Context())
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	v.Form.Scopes = scope.DefaultGrant()
	p := page{Title: "Customers", Nav: "customers", S: s, Data: v}
	q := r.URL.Query()
	for _, row := range v.Rows {
		switch row.Org.ID {
		case q.Get("created"):
			p.Notice = fmt.Sprintf("Customer “%s” created. Add its users in Admin > Users.", row.Org.Name)
		case q.Get("saved"):
			p.Notice = fmt.Sprintf("Permissions of “%s” saved.", row.Org.Name)
		}
	}
	c.render(w, r, http.StatusOK, "admin_customers", p)
}

func (c *Console) customersView(ctx context.Context) (*customersView, error) {
	orgs, err := c.store.ListOrgs(ctx)
	if err != nil {
		return nil, err
	}
	users, err := c.store.ListUsers(ctx)
	if err != nil {
		return nil, err
	}
	creds, err := c.store.ListCredentials(ctx, store.CredentialFilter{})
	if err != nil {
		return nil, err
	}
	scopes, err := c.customerScopes(ctx)
	if err != nil {
		return nil, err
	}
	v := &customersView{Scopes: scopes}
	now := c.now()
	for _, o := range orgs {
		row := customerRow{Org: o}
		for _, u := range users {
			if u.OrgID == o.ID {
				row.Users++
			}
		}
		for _, cr := range creds {
			if cr.OrgID == o.ID && cr.Active(now) {
				row.Credentials++
			}
		}
		v.Rows = append(v.Rows, row)
	}
	return v, nil
}

// customerScopes lists the scopes an organisation may be allowed to grant:
// every defined scope except those reserved for Admins.
func (c *Console) customerScopes(ctx context.Context) ([]store.Scope, error) {
	defined, err := c.store.ListScopes(ctx)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(defined, func(s store.Scope) bool { return s.AdminOnly }), nil
}

// customerCreate makes an organisation with the chosen permissions.
func (c *Console) customerCreate(w http.ResponseWriter, r *http.Request, s *session) {
	if err := r.ParseForm(); err != nil {
		c.renderError(w, r, s, http.StatusBadRequest, "The form could not be read. Please try again.")
		return
	}
	form := customerForm{Name: strings.TrimSpace(r.PostFormValue("name")), Scopes: r.PostForm["scope"]}
	invalid := func() {
		v, err := c.customersView(r.Context())
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		v.Form = form
		c.render(w, r, http.StatusUnprocessableEntity, "admin_customers", page{Title: "Customers", Nav: "customers", S: s, Data: v})
	}
	allowed, err := c.checkCustomerScopes(r.Context(), form.Scopes)
	if err != nil {
		var serr formError
		if !errors.As(err, &serr) {
			c.fail(w, r, s, err)
			return
		}
		form.Error = err.Error()
		invalid()
		return
	}
	// The customer and its permissions are made in one transaction.
	var o store.Org
	err = c.store.InTx(r.Context(), func(tx store.Store) error {
		var err error
		if o, err = org.Create(r.Context(), tx, s.Actor, form.Name, c.now()); err != nil {
			return err
		}
		_, err = org.SetScopes(r.Context(), tx, s.Actor, o.ID, allowed, c.now)
		return err
	})
	switch {
	case errors.Is(err, org.ErrInvalidName):
		form.NameError = "Name is required and may have at most 100 characters."
		if nerr := (*org.NameError)(nil); errors.As(err, &nerr) {
			form.NameError = nerr.Message
		}
		invalid()
		return
	case errors.Is(err, store.ErrAlreadyExists):
		form.NameError = fmt.Sprintf("A customer named “%s” already exists.", form.Name)
		invalid()
		return
	case err != nil:
		c.fail(w, r, s, err)
		return
	}
	c.log.InfoContext(r.Context(), "console: customer created", "org", o.ID, "user", s.User.ID)
	http.Redirect(w, r, "/admin/customers?created="+url.QueryEscape(o.ID), http.StatusSeeOther)
}

// customerEdit shows the permissions one customer may grant.
func (c *Console) customerEdit(w http.ResponseWriter, r *http.Request, s *session) {
	o, err := c.store.GetOrg(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		c.renderError(w, r, s, http.StatusNotFound, "This customer does not exist.")
		return
	} else if err != nil {
		c.fail(w, r, s, err)
		return
	}
	scopes, err := c.customerScopes(r.Context())
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	leak, err := c.store.OrgLeakAction(r.Context(), o.ID)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	v := &customersView{Scopes: scopes, Form: customerForm{ID: o.ID, Name: o.Name, Scopes: o.Scopes, LeakAction: leak}}
	p := page{Title: o.Name, Nav: "customers", S: s, Data: v}
	if r.URL.Query().Get("saved") == "leak" {
		p.Notice = "What a reported leak does is saved."
	}
	c.render(w, r, http.StatusOK, "admin_customer", p)
}

// customerUpdate replaces the permissions a customer may grant. Existing
// credentials keep the scopes they hold.
func (c *Console) customerUpdate(w http.ResponseWriter, r *http.Request, s *session) {
	if err := r.ParseForm(); err != nil {
		c.renderError(w, r, s, http.StatusBadRequest, "The form could not be read. Please try again.")
		return
	}
	o, err := org.SetScopes(r.Context(), c.store, s.Actor, r.PathValue("id"), r.PostForm["scope"], c.now)
	var serr *org.ScopeError
	if errors.As(err, &serr) {
		c.renderError(w, r, s, http.StatusUnprocessableEntity, unknownPermission(serr.Scope))
		return
	}
	if errors.Is(err, store.ErrNotFound) {
		c.renderError(w, r, s, http.StatusNotFound, "This customer does not exist.")
		return
	} else if err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.log.InfoContext(r.Context(), "console: customer permissions changed", "org", o.ID, "user", s.User.ID)
	http.Redirect(w, r, "/admin/customers?saved="+url.QueryEscape(o.ID), http.StatusSeeOther)
}

// checkCustomerScopes accepts only scopes an organisation may be allowed
// to grant (see org.CheckScopes), and returns them sorted without
// duplicates. A refused scope is a formError.
func (c *Console) checkCustomerScopes(ctx context.Context, names []string) ([]string, error) {
	allowed, err := org.CheckScopes(ctx, c.store, names)
	var serr *org.ScopeError
	if errors.As(err, &serr) {
		return nil, formError(unknownPermission(serr.Scope))
	}
	return allowed, err
}

// unknownPermission is the message for a scope a customer may not be
// allowed to grant.
func unknownPermission(name string) string { return fmt.Sprintf("Unknown permission “%s”.", name) }
