package console

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/user"
)

// loginView is the data of the login page.
type loginView struct {
	Email string
	Next  string
	Error string
	// Passkeys offers "Sign in with a passkey".
	Passkeys bool
	// Providers offer "Sign in with" each single sign-on provider.
	Providers []store.SSOProvider
}

// renderLogin answers with the login page: v, and what the page offers
// besides the password (passkeys, single sign-on providers), read only
// when the page is shown.
func (c *Console) renderLogin(w http.ResponseWriter, r *http.Request, status int, v loginView) {
	v.Passkeys = c.passkeysOn()
	if c.sso != nil {
		v.Providers, _ = c.sso.Names(r.Context()) // none shown if the list cannot be read
	}
	c.render(w, r, status, "login", page{Title: "Log in", Data: v})
}

// loginFailed is the one message for every failed login: it never says
// whether the email or the password was wrong.
const loginFailed = "Email or password is incorrect."

// loginForm shows the login page, or sends a logged-in person on.
func (c *Console) loginForm(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	next := safeNext(r.URL.Query().Get("next"))
	if _, err := c.currentSession(r); err == nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	c.renderLogin(w, r, http.StatusOK, loginView{Next: next})
}

// maxLoginBytes bounds the body of the login form: an email address of
// up to 254 characters and a password of up to 1024 bytes fit many times
// over, even percent-encoded. Each login waiting for a password check
// holds its form, so the bound is part of the queue's memory bound.
const maxLoginBytes = 16 << 10

// login checks the email and password and starts a new session. The
// session ID is always new, so a token planted before login is useless.
//
// Failed logins are throttled per account and per client address (see
// user.Throttle): a throttled attempt is answered 429 before the email is
// looked up, so the answer is the same whether or not the email exists.
// Password checks wait in a bounded queue (user.LoginQueue); when it is
// full the login is answered 503 at once, with Retry-After, and counts as
// no attempt.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBytes)
	if err := r.ParseForm(); err != nil {
		v := loginView{Next: "/", Error: "The login form could not be read. Reload the page and log in again."}
		status := http.StatusBadRequest
		if tooBig := (*http.MaxBytesError)(nil); errors.As(err, &tooBig) {
			status = http.StatusRequestEntityTooLarge
			v.Error = fmt.Sprintf("The login form is too large (over %d KiB). Enter an email address of at most %d characters and a password of at most %d bytes.",
				maxLoginBytes>>10, 254, user.MaxPasswordBytes)
		}
		c.renderLogin(w, r, status, v)
		return
	}
	email, password := strings.TrimSpace(r.PostFormValue("email")), r.PostFormValue("password")
	next := safeNext(r.PostFormValue("next"))
	v := loginView{Email: email, Next: next, Error: loginFailed}
	if email == "" || password == "" {
		c.renderLogin(w, r, http.StatusUnprocessableEntity, v)
		return
	}
	ip := c.ip(r)
	clean := c.throttle.Failures(ip) == 0
	if wait, ok := c.throttle.Attempt(email, ip); !ok {
		secs := int((wait + time.Second - 1) / time.Second)
		c.log.WarnContext(r.Context(), "console: login throttled", "ip", ip, "retry_after", secs)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		v.Error = tooManyAttempts(secs)
		c.renderLogin(w, r, http.StatusTooManyRequests, v)
		return
	}
	done, err := c.logins.Enter(r.Context(), ip, clean)
	if err != nil {
		c.throttle.Undo(email, ip) // not checked: no attempt
		if errors.Is(err, user.ErrBusy) {
			c.log.WarnContext(r.Context(), "console: login queue full", "ip", ip)
			w.Header().Set("Retry-After", strconv.Itoa(busyRetrySeconds))
			v.Error = fmt.Sprintf("Sapient is busy checking other logins. Try again in %d second.", busyRetrySeconds)
			c.renderLogin(w, r, http.StatusServiceUnavailable, v)
		}
		return
	}
	u, err := c.users.Authenticate(r.Context(), access.Actor{IP: ip, UserAgent: r.UserAgent()}, email, password)
	done()
	if errors.Is(err, user.ErrBadLogin) {
		c.log.InfoContext(r.Context(), "console: login failed", "path", r.URL.Path, "ip", ip)
		c.renderLogin(w, r, http.StatusUnprocessableEntity, v)
		return
	} else if err != nil {
		c.fail(w, r, nil, err)
		return
	}
	if c.afterPassword(w, r, u, email, next, true) {
		return
	}
	c.throttle.Succeeded(email, ip)
	c.logIn(w, r, u, next, "password")
}

// logIn starts the session of u, who proved who they are by how (and
// needs no second factor, or gave it), and sends them to next. The session
// this browser had, if any, ends first.
func (c *Console) logIn(w http.ResponseWriter, r *http.Request, u store.User, next, how string) {
	if ck, err := r.Cookie(user.CookieName(c.secure)); err == nil {
		if err := c.sessions.End(r.Context(), ck.Value); err != nil {
			c.fail(w, r, nil, err)
			return
		}
	}
	token, _, err := c.sessions.Login(r.Context(), c.actor(r, u), u)
	if err != nil {
		c.fail(w, r, nil, err)
		return
	}
	c.setCookie(w, token)
	c.log.InfoContext(r.Context(), "console: login", "user", u.ID, "by", how)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// busyRetrySeconds is the Retry-After of a login refused because the
// queue of password checks is full: a place frees with every check, and a
// check takes less than a second.
const busyRetrySeconds = 1

// tooManyAttempts is the answer to a throttled login.
func tooManyAttempts(secs int) string {
	if secs == 1 {
		return "Too many attempts. Try again in 1 second."
	}
	return fmt.Sprintf("Too many attempts. Try again in %d seconds.", secs)
}

// logout ends the session and returns to the login page.
func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if s, err := c.currentSession(r); err == nil {
		if err := c.sessions.Logout(r.Context(), s.Actor, s.token); err != nil {
			c.fail(w, r, nil, err)
			return
		}
	} else if pending := (*user.PendingError)(nil); errors.As(err, &pending) {
		// Half a login ends too, rather than waiting for its expiry.
		if ck, cerr := r.Cookie(user.CookieName(c.secure)); cerr == nil {
			if err := c.sessions.End(r.Context(), ck.Value); err != nil {
				c.fail(w, r, nil, err)
				return
			}
		}
	} else if !errors.Is(err, user.ErrNoSession) {
		c.fail(w, r, nil, err)
		return
	}
	c.clearCookie(w)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// startSession starts a session for u and hands its token to the browser.
func (c *Console) startSession(w http.ResponseWriter, r *http.Request, u store.User) error {
	token, _, err := c.sessions.StartAs(r.Context(), c.actor(r, u), u)
	if err != nil {
		return err
	}
	c.setCookie(w, token)
	return nil
}

// setCookie hands a session token to the browser. No Expires: the cookie
// ends with the browser; the server enforces the idle and absolute
// timeouts.
func (c *Console) setCookie(w http.ResponseWriter, token string) {
	http.SetCookie(w, &http.Cookie{
		Name: user.CookieName(c.secure), Value: token, Path: "/",
		HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode,
	})
}

// clearCookie tells the browser to forget the session cookie.
func (c *Console) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: user.CookieName(c.secure), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode,
	})
}

// safeNext keeps a post-login destination only if it is a path on this
// site, so the login form cannot be used to send people elsewhere.
func safeNext(next string) string {
	// Browsers drop tabs and newlines from URLs and read a backslash as
	// "/", so "/\t/evil.example" or "/\\evil.example" would leave the site.
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.ContainsFunc(next, func(r rune) bool { return r == '\\' || unicode.IsControl(r) }) ||
		strings.HasPrefix(next, "/login") {
		return "/"
	}
	return next
}
