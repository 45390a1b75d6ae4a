package console

import (
	"errors"
	"net/http"

	"sapient.dev/sapient/internal/user"
)

// passwordView is the data of the change password page.
type passwordView struct {
	MinLen int
	Errors map[string]string // by field: current_password, password, confirm
}

// passwordForm shows the change password page.
func (c *Console) passwordForm(w http.ResponseWriter, r *http.Request, s *session) {
	p := page{Title: "Change password", Nav: "password", S: s, Data: passwordView{MinLen: user.MinPasswordLen}}
	if r.URL.Query().Get("changed") == "1" {
		p.Notice = "Your password is changed. Every other session of yours has ended."
	}
	c.render(w, r, http.StatusOK, "password", p)
}

// passwordChange sets a new password, ends every session of the person,
// and starts a new one for this browser.
func (c *Console) passwordChange(w http.ResponseWriter, r *http.Request, s *session) {
	current, next, confirm := r.PostFormValue("current_password"), r.PostFormValue("password"), r.PostFormValue("confirm")
	invalid := func(field, msg string) {
		v := passwordView{MinLen: user.MinPasswordLen, Errors: map[string]string{field: msg}}
		c.render(w, r, http.StatusUnprocessableEntity, "password", page{Title: "Change password", Nav: "password", S: s, Data: v})
	}
	if next != confirm {
		invalid("confirm", "The new password and its confirmation differ.")
		return
	}
	if next == current && next != "" {
		invalid("password", "The new password must differ from the current one.")
		return
	}
	err := c.users.ChangePassword(r.Context(), s.Actor, s.User.ID, current, next)
	var verr *user.ValidationError
	if errors.As(err, &verr) {
		invalid(verr.Field, verr.Message)
		return
	} else if err != nil {
		c.fail(w, r, s, err)
		return
	}
	if err := c.sessions.EndAll(r.Context(), s.User.ID); err != nil {
		c.fail(w, r, s, err)
		return
	}
	u, err := c.store.GetUser(r.Context(), s.User.ID)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	if err := c.startSession(w, r, u); err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.log.InfoContext(r.Context(), "console: password changed", "user", s.User.ID)
	http.Redirect(w, r, "/account/password?changed=1", http.StatusSeeOther)
}
