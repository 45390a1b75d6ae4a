package console

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

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
//
// The current password is checked as a login checks it: through the login
// throttle (per account and per address, so that a stolen session cannot
// guess the password without limit, and its guesses slow down logins to
// the account as well) and within the bound on concurrent argon2id
// computations (64 MiB each). The new password is checked against the
// policy first, so that a refused one costs neither.
func (c *Console) passwordChange(w http.ResponseWriter, r *http.Request, s *session) {
	current, next, confirm := r.PostFormValue("current_password"), r.PostFormValue("password"), r.PostFormValue("confirm")
	invalid := func(status int, field, msg string) {
		v := passwordView{MinLen: user.MinPasswordLen, Errors: map[string]string{field: msg}}
		c.render(w, r, status, "password", page{Title: "Change password", Nav: "password", S: s, Data: v})
	}
	var verr *user.ValidationError
	if next != confirm {
		invalid(http.StatusUnprocessableEntity, "confirm", "The new password and its confirmation differ.")
		return
	}
	if next == current && next != "" {
		invalid(http.StatusUnprocessableEntity, "password", "The new password must differ from the current one.")
		return
	}
	if err := user.CheckPassword(next); errors.As(err, &verr) {
		invalid(http.StatusUnprocessableEntity, verr.Field, verr.Message)
		return
	}
	ip := c.ip(r)
	if wait, ok := c.throttle.Attempt(s.User.Email, ip); !ok {
		secs := int((wait + time.Second - 1) / time.Second)
		c.log.WarnContext(r.Context(), "console: password change throttled", "user", s.User.ID, "ip", ip, "retry_after", secs)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		invalid(http.StatusTooManyRequests, "current_password", tooManyAttempts(secs))
		return
	}
	done, err := c.logins.Enter(r.Context(), ip, c.throttle.Failures(ip) == 0)
	if err != nil {
		c.throttle.Undo(s.User.Email, ip) // not checked: no attempt
		if errors.Is(err, user.ErrBusy) {
			w.Header().Set("Retry-After", strconv.Itoa(busyRetrySeconds))
			invalid(http.StatusServiceUnavailable, "current_password",
				fmt.Sprintf("Sapient is busy checking other passwords. Try again in %d second.", busyRetrySeconds))
		}
		return
	}
	err = c.users.ChangePassword(r.Context(), s.Actor, s.User.ID, current, next)
	done()
	if errors.As(err, &verr) && verr.Field == "current_password" {
		c.log.InfoContext(r.Context(), "console: password change refused, current password wrong", "user", s.User.ID, "ip", ip)
		invalid(http.StatusUnprocessableEntity, verr.Field, verr.Message)
		return
	}
	if err == nil || errors.As(err, &verr) {
		c.throttle.Succeeded(s.User.Email, ip) // the current password was right
	}
	if errors.As(err, &verr) {
		invalid(http.StatusUnprocessableEntity, verr.Field, verr.Message)
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
