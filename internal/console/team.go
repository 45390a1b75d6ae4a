package console

import (
	"net/http"

	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/user"
)

// owner runs h for an organisation owner; everyone else is told the page
// is not theirs. The user service checks the owner flag again, inside the
// transaction of every change.
func (c *Console) owner(h handler) http.HandlerFunc {
	return c.user(func(w http.ResponseWriter, r *http.Request, s *session) {
		if s.User.Role != store.RoleCustomer || !s.User.Owner {
			c.renderError(w, r, s, http.StatusForbidden, "This page is for organisation owners only.")
			return
		}
		h(w, r, s)
	})
}

// teamList shows the users of the owner's organisation (Team).
func (c *Console) teamList(w http.ResponseWriter, r *http.Request, s *session) {
	v, err := c.usersView(r, s, true)
	if err != nil {
		c.userFailed(w, r, s, err)
		return
	}
	c.render(w, r, http.StatusOK, "team", page{Title: "Team", Nav: "team", S: s, Data: v, Notice: c.userNotice(r, v)})
}

// teamInvite invites a Customer user into the owner's organisation.
func (c *Console) teamInvite(w http.ResponseWriter, r *http.Request, s *session) {
	c.userInvite(w, r, s, true)
}

// adminInvite is Admin > Users > Invite user.
func (c *Console) adminInvite(w http.ResponseWriter, r *http.Request, s *session) {
	c.userInvite(w, r, s, false)
}

// userUpdateRequest is the change of the edit form: every field is set.
func userUpdateRequest(role store.Role, org string, owner bool) user.UpdateRequest {
	return user.UpdateRequest{Role: &role, OrgID: &org, Owner: &owner}
}
