package console

import (
	"net/http"
	"net/url"

	"sapient.dev/sapient/internal/store"
)

// userView is the page of one user in Admin > Users.
type userView struct {
	User    store.User
	OrgName string
	Orgs    []store.Org
	// TwoFactor is true when the user has a second factor an Admin may
	// remove (see twoFactorReset).
	TwoFactor bool
}

// userEdit shows one user: the form to change role, organisation and
// owner, and the buttons that disable, enable, end sessions, make a reset
// link and delete.
func (c *Console) userEdit(w http.ResponseWriter, r *http.Request, s *session) {
	u, err := c.users.Get(r.Context(), s.Actor, r.PathValue("id"))
	if err != nil {
		c.userFailed(w, r, s, err)
		return
	}
	orgs, err := c.store.ListOrgs(r.Context())
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	v := userView{User: u, Orgs: orgs}
	for _, o := range orgs {
		if o.ID == u.OrgID {
			v.OrgName = o.Name
		}
	}
	p := page{Title: u.Email, Nav: "users", S: s, Data: &v}
	if c.twofactor != nil && u.ID != s.User.ID {
		st, err := c.twofactor.Status(r.Context(), u)
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		v.TwoFactor = st.Enabled()
	}
	if r.URL.Query().Get("two_factor") == "reset" {
		p.Notice = "Every second factor of " + u.Email + " is removed. Their next login asks for their password only, and for enrolment where the policy requires it."
	}
	c.render(w, r, http.StatusOK, "admin_user", p)
}

// userUpdate changes a user's role, organisation and owner flag.
func (c *Console) userUpdate(w http.ResponseWriter, r *http.Request, s *session) {
	role, org, owner := store.Role(r.PostFormValue("role")), r.PostFormValue("org"), r.PostFormValue("owner") == "on"
	u, err := c.users.Update(r.Context(), s.Actor, r.PathValue("id"), userUpdateRequest(role, org, owner))
	if err != nil {
		c.userFailed(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/admin/users?updated="+url.QueryEscape(u.ID), http.StatusSeeOther)
}

// userDisable and userEnable serve Admin > Users and Team alike: the
// service decides whom the person may reach.
func (c *Console) userDisable(base string) handler {
	return func(w http.ResponseWriter, r *http.Request, s *session) {
		u, err := c.users.Disable(r.Context(), s.Actor, r.PathValue("id"))
		if err != nil {
			c.userFailed(w, r, s, err)
			return
		}
		c.log.InfoContext(r.Context(), "console: user disabled", "target", u.ID, "user", s.User.ID)
		http.Redirect(w, r, base+"?disabled="+url.QueryEscape(u.ID), http.StatusSeeOther)
	}
}

func (c *Console) userEnable(base string) handler {
	return func(w http.ResponseWriter, r *http.Request, s *session) {
		u, err := c.users.Enable(r.Context(), s.Actor, r.PathValue("id"))
		if err != nil {
			c.userFailed(w, r, s, err)
			return
		}
		http.Redirect(w, r, base+"?enabled="+url.QueryEscape(u.ID), http.StatusSeeOther)
	}
}

// userDeleteConfirm asks before deleting a user.
func (c *Console) userDeleteConfirm(w http.ResponseWriter, r *http.Request, s *session) {
	u, err := c.users.Get(r.Context(), s.Actor, r.PathValue("id"))
	if err != nil {
		c.userFailed(w, r, s, err)
		return
	}
	c.render(w, r, http.StatusOK, "admin_user_delete", page{Title: "Delete " + u.Email, Nav: "users", S: s, Data: u})
}

// userDelete deletes a user; the audit trail keeps their email.
func (c *Console) userDelete(w http.ResponseWriter, r *http.Request, s *session) {
	u, err := c.users.Delete(r.Context(), s.Actor, r.PathValue("id"))
	if err != nil {
		c.userFailed(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/admin/users?deleted="+url.QueryEscape(u.Email), http.StatusSeeOther)
}

// userEndSessions ends every session of a user at once.
func (c *Console) userEndSessions(w http.ResponseWriter, r *http.Request, s *session) {
	u, err := c.users.EndSessions(r.Context(), s.Actor, r.PathValue("id"))
	if err != nil {
		c.userFailed(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/admin/users?ended="+url.QueryEscape(u.ID), http.StatusSeeOther)
}

// userResetLink makes a password reset link for a user and shows it once.
func (c *Console) userResetLink(w http.ResponseWriter, r *http.Request, s *session) {
	u, token, err := c.users.ResetLink(r.Context(), s.Actor, r.PathValue("id"))
	if err != nil {
		c.userFailed(w, r, s, err)
		return
	}
	c.showLink(w, r, s, u, token, false, false)
}
