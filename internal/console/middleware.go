package console

import (
	"errors"
	"net/http"
	"net/url"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/user"
)

// contentSecurityPolicy allows only the console's own script, styles and
// images: no inline script or style, no framing, forms only to this origin.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// headers sets the security headers on every console response.
func (c *Console) headers(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
		if c.secure {
			hd.Set("Strict-Transport-Security", "max-age=63072000")
		}
		h.ServeHTTP(w, r)
	})
}

// session is the logged-in person behind a request.
type session struct {
	User  store.User
	Actor access.Actor
	Org   store.Org // the customer's organisation; zero for an Admin
	token string
	// Pending is true for half a login that may only enrol the second
	// factor policy requires (see enroller).
	Pending bool
}

// handler is a console page that needs a logged-in person.
type handler func(w http.ResponseWriter, r *http.Request, s *session)

// user runs h for a logged-in person and sends everyone else to the login
// page, remembering where they were going.
func (c *Console) user(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		// Pages show an organisation's data: never keep them in a cache.
		w.Header().Set("Cache-Control", "no-store")
		s, err := c.currentSession(r)
		var pending *user.PendingError
		if errors.As(err, &pending) {
			// Half a login reaches nothing but its next step.
			if r.Method != http.MethodGet {
				c.renderError(w, r, nil, http.StatusUnauthorized, "Finish logging in first: your second factor is still needed.")
				return
			}
			http.Redirect(w, r, pendingStep(pending.Kind), http.StatusSeeOther)
			return
		}
		if errors.Is(err, user.ErrNoSession) {
			c.clearCookie(w)
			if r.Method != http.MethodGet {
				c.renderError(w, r, nil, http.StatusUnauthorized, "Your session has ended. Log in again and repeat what you were doing.")
				return
			}
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		} else if err != nil {
			c.fail(w, r, nil, err)
			return
		}
		h(w, r, s)
	}
}

// admin runs h for an Admin; a Customer is told the page is not theirs.
func (c *Console) admin(h handler) http.HandlerFunc {
	return c.user(func(w http.ResponseWriter, r *http.Request, s *session) {
		if !s.Actor.IsAdmin() {
			c.renderError(w, r, s, http.StatusForbidden, "This page is for Admins only.")
			return
		}
		h(w, r, s)
	})
}

// currentSession loads the person of the session cookie.
func (c *Console) currentSession(r *http.Request) (*session, error) {
	caller, err := c.sessions.FromRequest(r, c.secure, c.ip(r))
	if err != nil {
		return nil, err
	}
	s := &session{User: caller.User, Actor: caller.Actor, token: caller.Token}
	if s.User.Role != store.RoleAdmin {
		if s.Org, err = c.store.GetOrg(r.Context(), s.User.OrgID); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// actor is the person u acting through request r, before a session
// exists (at login).
func (c *Console) actor(r *http.Request, u store.User) access.Actor {
	return user.RequestActor(u, r, c.ip(r))
}

// ip is the client address of r as text, "" when unknown.
func (c *Console) ip(r *http.Request) string {
	if a := c.clientIP.IP(r); a.IsValid() {
		return a.String()
	}
	return ""
}

// crossOriginDenied answers a state-changing request sent by another site.
func (c *Console) crossOriginDenied(w http.ResponseWriter, r *http.Request) {
	c.log.WarnContext(r.Context(), "console: cross-origin request refused",
		"method", r.Method, "path", r.URL.Path, "origin", r.Header.Get("Origin"), "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"))
	c.renderError(w, r, nil, http.StatusForbidden,
		"This request came from another site and was refused. Open Sapient directly and try again.")
}
