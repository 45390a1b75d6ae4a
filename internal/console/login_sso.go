package console

import (
	"errors"
	"net/http"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/audit"
	"sapient.dev/sapient/internal/sso"
	"sapient.dev/sapient/internal/user"
)

// ssoBegin sends the browser to the provider, with the state of the login
// sealed in a cookie for the way back.
func (c *Console) ssoBegin(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	authURL, cookie, err := c.sso.Begin(r.Context(), r.PathValue("id"), safeNext(r.URL.Query().Get("next")))
	var lerr *sso.LoginError
	switch {
	case errors.Is(err, sso.ErrNotFound):
		c.ssoRefused(w, r, http.StatusNotFound, "This sign-in provider does not exist.")
		return
	case errors.As(err, &lerr):
		c.ssoRefused(w, r, http.StatusBadGateway, lerr.Message)
		return
	case err != nil:
		c.fail(w, r, nil, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sso.CookieName, Value: cookie, Path: "/login/sso/",
		MaxAge: int(sso.CookieMaxAge.Seconds()), HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, authURL, http.StatusSeeOther)
}

// ssoCallback finishes a login through a provider: the person, vouched for
// by the provider, logs in as the password form would have logged them in
// (a second factor, when they have one, is still asked).
func (c *Console) ssoCallback(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	cookie := ""
	if ck, err := r.Cookie(sso.CookieName); err == nil {
		cookie = ck.Value
	}
	// The state is good for one answer only.
	http.SetCookie(w, &http.Cookie{Name: sso.CookieName, Value: "", Path: "/login/sso/", MaxAge: -1,
		HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode})
	from := access.Actor{IP: c.ip(r), UserAgent: r.UserAgent()}
	u, next, err := c.sso.Finish(r.Context(), from, r.PathValue("id"), cookie, r.URL.Query())
	var lerr *sso.LoginError
	var verr *user.ValidationError
	switch {
	case errors.As(err, &lerr):
		if aerr := audit.Write(r.Context(), c.store, from, audit.LoginFailed, "", "", "single sign-on: "+lerr.Reason, c.now()); aerr != nil {
			c.fail(w, r, nil, aerr)
			return
		}
		c.log.InfoContext(r.Context(), "console: single sign-on refused", "ip", from.IP, "reason", lerr.Reason)
		c.ssoRefused(w, r, http.StatusForbidden, lerr.Message)
		return
	case errors.Is(err, sso.ErrNotFound):
		c.ssoRefused(w, r, http.StatusNotFound, "This sign-in provider does not exist.")
		return
	case errors.As(err, &verr):
		c.ssoRefused(w, r, http.StatusForbidden, verr.Message)
		return
	case err != nil:
		c.fail(w, r, nil, err)
		return
	}
	if next == "" {
		next = "/"
	}
	if c.afterPassword(w, r, u, u.Email, next, false) {
		return
	}
	c.logIn(w, r, u, next, "single sign-on")
}

// ssoRefused answers with the login page and msg.
func (c *Console) ssoRefused(w http.ResponseWriter, r *http.Request, status int, msg string) {
	c.renderLogin(w, r, status, loginView{Next: "/", Error: msg})
}
