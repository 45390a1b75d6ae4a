package console

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/user"
)

// usersView is the data of Admin > Users and of Team.
type usersView struct {
	Rows   []userRow
	Orgs   []store.Org
	Form   userForm
	MinLen int
	Team   bool   // the Team page of an organisation owner
	Base   string // /admin/users or /team: where the forms post
	Me     string // the ID of the person looking, who cannot disable themselves
}

// userRow is one person in the table.
type userRow struct {
	User    store.User
	OrgName string
}

// userForm is the invite form with what was typed and what to correct.
type userForm struct {
	Email  string
	Role   string
	OrgID  string
	Owner  bool
	Errors map[string]string // by field: email, password, role, org
}

// userList shows every person who may log in and the form to invite one.
func (c *Console) userList(w http.ResponseWriter, r *http.Request, s *session) {
	v, err := c.usersView(r, s, false)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	v.Form.Role = string(store.RoleCustomer)
	p := page{Title: "Users", Nav: "users", S: s, Data: v, Notice: c.userNotice(r, v)}
	c.render(w, r, http.StatusOK, "admin_users", p)
}

// userNotice is the message after an action on the list, from the query
// string: what happened to which of the users shown.
func (c *Console) userNotice(r *http.Request, v *usersView) string {
	q := r.URL.Query()
	for _, row := range v.Rows {
		switch row.User.ID {
		case q.Get("created"):
			return fmt.Sprintf("User %s created. Give them their initial password in a safe way; they can change it under Change password.", row.User.Email)
		case q.Get("disabled"):
			return fmt.Sprintf("%s is disabled: their sessions have ended and they cannot log in.", row.User.Email)
		case q.Get("enabled"):
			return fmt.Sprintf("%s is enabled and may log in again.", row.User.Email)
		case q.Get("updated"):
			return fmt.Sprintf("%s was changed.", row.User.Email)
		case q.Get("ended"):
			return fmt.Sprintf("Every session of %s has ended.", row.User.Email)
		}
	}
	if e := q.Get("deleted"); e != "" {
		return fmt.Sprintf("User %s was deleted. The audit trail keeps what they did.", e)
	}
	return ""
}

// usersView lists the users the person of s may manage: through the
// user service, so that an owner sees their organisation only.
func (c *Console) usersView(r *http.Request, s *session, team bool) (*usersView, error) {
	users, err := c.users.List(r.Context(), s.Actor)
	if err != nil {
		return nil, err
	}
	orgs, err := c.store.ListOrgs(r.Context())
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, o := range orgs {
		names[o.ID] = o.Name
	}
	v := &usersView{MinLen: user.MinPasswordLen, Team: team, Base: "/admin/users", Me: s.User.ID}
	if team {
		v.Base = "/team"
	} else {
		v.Orgs = orgs
	}
	for _, u := range users {
		v.Rows = append(v.Rows, userRow{User: u, OrgName: names[u.OrgID]})
	}
	return v, nil
}

// userCreate adds a person with an initial password (the form of earlier
// versions; the page now invites people instead).
func (c *Console) userCreate(w http.ResponseWriter, r *http.Request, s *session) {
	form := userForm{Email: r.PostFormValue("email"), Role: r.PostFormValue("role"), OrgID: r.PostFormValue("org")}
	req := user.CreateRequest{Email: form.Email, Password: r.PostFormValue("password"), Role: store.Role(form.Role), OrgID: form.OrgID}
	if req.Role == store.RoleCustomer && req.OrgID != "" {
		if _, err := c.store.GetOrg(r.Context(), req.OrgID); errors.Is(err, store.ErrNotFound) {
			req.OrgID = "" // reported below as a missing organisation
		} else if err != nil {
			c.fail(w, r, s, err)
			return
		}
	}
	u, err := c.users.Create(r.Context(), s.Actor, req)
	var verr *user.ValidationError
	if errors.As(err, &verr) {
		v, err := c.usersView(r, s, false)
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		form.Errors = map[string]string{verr.Field: verr.Message}
		v.Form = form
		c.render(w, r, http.StatusUnprocessableEntity, "admin_users", page{Title: "Users", Nav: "users", S: s, Data: v})
		return
	} else if err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.log.InfoContext(r.Context(), "console: user created", "new_user", u.ID, "role", u.Role, "user", s.User.ID)
	http.Redirect(w, r, "/admin/users?created="+url.QueryEscape(u.ID), http.StatusSeeOther)
}
