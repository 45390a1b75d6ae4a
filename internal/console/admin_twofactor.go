package console

import (
	"errors"
	"net/http"
	"net/url"

	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/user"
)

// policyView is the data of Admin > Two-factor policy.
type policyView struct {
	Require string
	Error   string
}

// policyPage shows whom two-factor authentication is required of.
func (c *Console) policyPage(w http.ResponseWriter, r *http.Request, s *session) {
	req, err := c.store.TwoFactorPolicy(r.Context(), "")
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	p := page{Title: "Two-factor policy", Nav: "two-factor-policy", S: s, Data: policyView{Require: req}}
	if r.URL.Query().Get("saved") == "1" {
		p.Notice = "The two-factor policy is saved. People it now covers set up a second factor at their next login."
	}
	c.render(w, r, http.StatusOK, "admin_twofactor", p)
}

// policySave sets the global two-factor policy.
func (c *Console) policySave(w http.ResponseWriter, r *http.Request, s *session) {
	require := r.PostFormValue("require")
	err := c.twofactor.SetPolicy(r.Context(), s.Actor, "", require)
	var verr *user.ValidationError
	if errors.As(err, &verr) {
		c.render(w, r, http.StatusUnprocessableEntity, "admin_twofactor", page{Title: "Two-factor policy", Nav: "two-factor-policy", S: s,
			Data: policyView{Require: require, Error: verr.Message}})
		return
	} else if err != nil {
		c.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/admin/two-factor?saved=1", http.StatusSeeOther)
}

// customerPolicySave requires two-factor authentication of everyone in
// one organisation, or stops requiring it beyond the global policy.
func (c *Console) customerPolicySave(w http.ResponseWriter, r *http.Request, s *session) {
	require := store.RequireNobody
	if r.PostFormValue("require") == store.RequireEveryone {
		require = store.RequireEveryone
	}
	id := r.PathValue("id")
	err := c.twofactor.SetPolicy(r.Context(), s.Actor, id, require)
	if errors.Is(err, store.ErrNotFound) {
		c.renderError(w, r, s, http.StatusNotFound, "This customer does not exist.")
		return
	} else if err != nil {
		c.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/admin/customers/"+url.PathEscape(id)+"?saved=two-factor", http.StatusSeeOther)
}

// twoFactorReset removes every second factor of a user who lost them all.
func (c *Console) twoFactorReset(w http.ResponseWriter, r *http.Request, s *session) {
	u, err := c.users.Get(r.Context(), s.Actor, r.PathValue("id"))
	if err != nil {
		c.userFailed(w, r, s, err)
		return
	}
	err = c.twofactor.Reset(r.Context(), s.Actor, u)
	if errors.Is(err, user.ErrOwnTwoFactor) {
		c.renderError(w, r, s, http.StatusConflict, "Turn off your own two-factor authentication on your Two-factor authentication page, with a code or your password.")
		return
	} else if err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.log.InfoContext(r.Context(), "console: two-factor removed by an Admin", "target", u.ID, "user", s.User.ID)
	http.Redirect(w, r, "/admin/users/"+url.PathEscape(u.ID)+"?two_factor=reset", http.StatusSeeOther)
}
