package console

import (
	"errors"
	"fmt"
	"net/http"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/user"
)

// linkPageView is the page a one-time link opens.
type linkPageView struct {
	Token  string
	Email  string
	Invite bool
	MinLen int
	Error  string // the link cannot be used: no form
	Field  string // a problem with the password typed
}

// linkForm opens a one-time link: the form that sets the password, or a
// message saying why the link cannot be used.
func (c *Console) linkForm(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	token := r.URL.Query().Get("token")
	u, l, err := c.users.CheckLink(r.Context(), token)
	v := linkPageView{Token: token, Email: u.Email, Invite: l.Purpose == store.LinkInvite, MinLen: user.MinPasswordLen}
	if err == nil {
		if s, serr := c.currentSession(r); serr == nil && s.User.ID != u.ID {
			err = user.ErrLinkOtherUser
		}
	}
	if err != nil {
		c.linkRefused(w, r, v, err)
		return
	}
	c.render(w, r, http.StatusOK, "link", page{Title: "Choose a password", Data: v})
}

// linkSet sets the password through a one-time link, ends the user's
// other sessions and logs them in.
func (c *Console) linkSet(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBytes)
	if err := r.ParseForm(); err != nil {
		c.linkRefused(w, r, linkPageView{}, user.ErrLinkInvalid)
		return
	}
	token, password := r.PostFormValue("token"), r.PostFormValue("password")
	u, l, err := c.users.CheckLink(r.Context(), token)
	if err != nil {
		c.linkRefused(w, r, linkPageView{}, err)
		return
	}
	v := linkPageView{Token: token, Email: u.Email, Invite: l.Purpose == store.LinkInvite, MinLen: user.MinPasswordLen}
	if password != r.PostFormValue("confirm") {
		v.Field = "The two passwords differ. Type the same password twice."
		c.render(w, r, http.StatusUnprocessableEntity, "link", page{Title: "Choose a password", Data: v})
		return
	}
	actor := access.Actor{IP: c.ip(r), UserAgent: r.UserAgent()}
	s, serr := c.currentSession(r)
	if serr == nil {
		actor = s.Actor
	}
	ip := c.ip(r)
	done, err := c.logins.Enter(r.Context(), ip, true)
	if err != nil {
		if errors.Is(err, user.ErrBusy) {
			w.Header().Set("Retry-After", fmt.Sprint(busyRetrySeconds))
			v.Field = fmt.Sprintf("Sapient is busy checking other passwords. Try again in %d second.", busyRetrySeconds)
			c.render(w, r, http.StatusServiceUnavailable, "link", page{Title: "Choose a password", Data: v})
		}
		return
	}
	u, err = c.users.SetPasswordByLink(r.Context(), actor, token, password)
	done()
	var verr *user.ValidationError
	if errors.As(err, &verr) {
		v.Field = verr.Message
		c.render(w, r, http.StatusUnprocessableEntity, "link", page{Title: "Choose a password", Data: v})
		return
	} else if err != nil {
		c.linkRefused(w, r, v, err)
		return
	}
	token, _, err = c.sessions.Login(r.Context(), c.actor(r, u), u)
	if err != nil {
		c.fail(w, r, nil, err)
		return
	}
	c.setCookie(w, token)
	http.Redirect(w, r, "/?password=set", http.StatusSeeOther)
}

// linkRefused says why a link cannot be used; unexpected errors are logged
// and shown as such.
func (c *Console) linkRefused(w http.ResponseWriter, r *http.Request, v linkPageView, err error) {
	status := http.StatusBadRequest
	switch {
	case errors.Is(err, user.ErrLinkInvalid):
		v.Error = "This link is not valid. Check that you copied all of it, or ask for a new one."
		status = http.StatusNotFound
	case errors.Is(err, user.ErrLinkUsed):
		v.Error = "This link has already been used. Ask for a new one, or log in with the password you chose."
		status = http.StatusGone
	case errors.Is(err, user.ErrLinkExpired):
		v.Error = "This link has expired. Ask for a new one: use Forgot password? on the login page, or ask your Admin."
		status = http.StatusGone
	case errors.Is(err, user.ErrLinkOtherUser):
		v.Error = "This link is for another account than the one you are logged in with. Log out first, then open the link again."
		status = http.StatusForbidden
	default:
		c.fail(w, r, nil, err)
		return
	}
	v.Token = ""
	c.render(w, r, status, "link", page{Title: "Choose a password", Data: v})
}
