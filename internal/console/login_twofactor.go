package console

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/user"
)

// secondStepView is the data of the login's second step.
type secondStepView struct {
	Email    string
	Next     string
	TOTP     bool
	Passkeys bool
	Error    string
}

// afterPassword continues a login whose password was right (typed at the
// login form, or just set through a one-time link): a person with a
// second factor is asked for it, one whom policy requires to have one
// enrols it first, and anyone else is logged in. It reports whether it
// answered the request; when not, the caller logs the person in.
//
// The half login it starts reaches nothing but its next step (see
// user.Sessions.Lookup). For a password typed at the login form
// (throttled), the right password takes back its own strike at the
// throttle but does not clear the account's: otherwise each login with a
// stolen password would open a fresh budget of code guesses.
func (c *Console) afterPassword(w http.ResponseWriter, r *http.Request, u store.User, email, next string, throttled bool) bool {
	if c.twofactor == nil {
		return false
	}
	st, err := c.twofactor.Status(r.Context(), u)
	if err != nil {
		c.fail(w, r, nil, err)
		return true
	}
	kind := ""
	switch {
	case st.Enabled():
		kind = store.PendingSecondFactor
		if throttled {
			c.throttle.Undo(email, c.ip(r))
		}
	case st.Required:
		kind = store.PendingEnrol
		if throttled {
			c.throttle.Succeeded(email, c.ip(r))
		}
	default:
		return false
	}
	if ck, err := r.Cookie(user.CookieName(c.secure)); err == nil {
		if err := c.sessions.End(r.Context(), ck.Value); err != nil {
			c.fail(w, r, nil, err)
			return true
		}
	}
	token, err := c.sessions.BeginPending(r.Context(), c.actor(r, u), u, kind)
	if err != nil {
		c.fail(w, r, nil, err)
		return true
	}
	c.setCookie(w, token)
	to := pendingStep(kind)
	if kind == store.PendingSecondFactor && next != "/" {
		to += "?next=" + url.QueryEscape(next)
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return true
}

// continueLogin is pendingLogin for a step that finishes the login: a
// half login that ended is answered with the login page, and ok is false.
func (c *Console) continueLogin(w http.ResponseWriter, r *http.Request) (u store.User, token string, ok bool) {
	u, token, err := c.pendingLogin(r)
	if errors.Is(err, user.ErrNoSession) {
		c.renderLogin(w, r, http.StatusUnauthorized, loginView{Next: "/", Error: "Your login took too long or has ended. Log in again."})
		return u, "", false
	} else if err != nil {
		c.fail(w, r, nil, err)
		return u, "", false
	}
	return u, token, true
}

// pendingLogin returns the person of the half login of r that waits for a
// second factor.
func (c *Console) pendingLogin(r *http.Request) (store.User, string, error) {
	ck, err := r.Cookie(user.CookieName(c.secure))
	if err != nil {
		return store.User{}, "", user.ErrNoSession
	}
	u, _, err := c.sessions.LookupPending(r.Context(), ck.Value, store.PendingSecondFactor)
	return u, ck.Value, err
}

// secondStepForm asks for the second factor.
func (c *Console) secondStepForm(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	u, _, err := c.pendingLogin(r)
	if errors.Is(err, user.ErrNoSession) {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	} else if err != nil {
		c.fail(w, r, nil, err)
		return
	}
	c.renderSecondStep(w, r, http.StatusOK, u, safeNext(r.URL.Query().Get("next")), "")
}

func (c *Console) renderSecondStep(w http.ResponseWriter, r *http.Request, status int, u store.User, next, msg string) {
	st, err := c.twofactor.Status(r.Context(), u)
	if err != nil {
		c.fail(w, r, nil, err)
		return
	}
	v := secondStepView{Email: u.Email, Next: next, TOTP: st.TOTP || st.RecoveryLeft > 0, Passkeys: len(st.Passkeys) > 0 && c.passkeysOn(), Error: msg}
	c.render(w, r, status, "login_twofactor", page{Title: "Two-factor authentication", Data: v})
}

// secondStep checks a code from the authenticator app or a recovery code
// and completes the login in a new session. Wrong codes go through the
// login throttle of the account and the address.
func (c *Console) secondStep(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	u, token, ok := c.continueLogin(w, r)
	if !ok {
		return
	}
	next := safeNext(r.PostFormValue("next"))
	ip := c.ip(r)
	if wait, ok := c.throttle.Attempt(u.Email, ip); !ok {
		secs := int((wait + time.Second - 1) / time.Second)
		c.log.WarnContext(r.Context(), "console: second factor throttled", "user", u.ID, "ip", ip, "retry_after", secs)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		c.renderSecondStep(w, r, http.StatusTooManyRequests, u, next, tooManyAttempts(secs))
		return
	}
	actor := c.actor(r, u)
	method, err := c.twofactor.VerifyCode(r.Context(), actor, u, r.PostFormValue("code"))
	if errors.Is(err, user.ErrBadCode) {
		c.log.InfoContext(r.Context(), "console: second factor refused", "user", u.ID, "ip", ip)
		c.renderSecondStep(w, r, http.StatusUnprocessableEntity, u, next,
			"That code is incorrect. Enter the 6-digit code your authenticator app shows now, or a recovery code.")
		return
	} else if err != nil {
		c.throttle.Undo(u.Email, ip)
		c.fail(w, r, nil, err)
		return
	}
	c.throttle.Succeeded(u.Email, ip)
	c.completeLogin(w, r, u, token, next, method)
}

// completeLogin ends the half login of pendingToken and starts a whole
// one in a new session.
func (c *Console) completeLogin(w http.ResponseWriter, r *http.Request, u store.User, pendingToken, next, method string) {
	if err := c.sessions.End(r.Context(), pendingToken); err != nil {
		c.fail(w, r, nil, err)
		return
	}
	token, _, err := c.sessions.LoginWith(r.Context(), c.actor(r, u), u, method)
	if err != nil {
		c.fail(w, r, nil, err)
		return
	}
	c.setCookie(w, token)
	c.log.InfoContext(r.Context(), "console: login", "user", u.ID, "second_factor", method)
	http.Redirect(w, r, next, http.StatusSeeOther)
}
