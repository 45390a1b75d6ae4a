package console

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/mail"
	"sapient.dev/sapient/internal/user"
)

// forgotView is the data of the Forgot password? page.
type forgotView struct {
	Email  string
	Sent   bool // the request was taken
	NoMail bool // Sapient sends no mail: ask an Admin
	Error  string
}

// forgotForm shows the form that asks for a reset link.
func (c *Console) forgotForm(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	c.render(w, r, http.StatusOK, "forgot", page{Title: "Forgot password", Data: forgotView{NoMail: c.mailer == nil}})
}

// forgot sends a reset link to the email typed, when there is such a user
// and Sapient sends mail. The answer is the same page whether or not the
// email exists, and the mail goes out in the background so that its time
// tells nothing either. Requests count against the login throttle of the
// email and the client address, like a wrong password.
func (c *Console) forgot(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBytes)
	if err := r.ParseForm(); err != nil {
		c.render(w, r, http.StatusBadRequest, "forgot", page{Title: "Forgot password", Data: forgotView{Error: "The form could not be read. Reload the page and try again."}})
		return
	}
	email := strings.TrimSpace(r.PostFormValue("email"))
	v := forgotView{Email: email, NoMail: c.mailer == nil}
	if _, err := user.NormalizeEmail(email); err != nil {
		v.Error = "Enter a valid email address."
		c.render(w, r, http.StatusUnprocessableEntity, "forgot", page{Title: "Forgot password", Data: v})
		return
	}
	ip := c.ip(r)
	if wait, ok := c.throttle.Attempt(email, ip); !ok {
		secs := int((wait + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		v.Error = tooManyAttempts(secs)
		c.render(w, r, http.StatusTooManyRequests, "forgot", page{Title: "Forgot password", Data: v})
		return
	}
	if c.mailer != nil {
		u, token, err := c.users.RequestReset(r.Context(), access.Actor{IP: ip, UserAgent: r.UserAgent()}, email)
		if err == nil {
			c.mailInBackground(r.Context(), mail.LinkMessage(mail.Reset, u.Email, user.LinkURL(c.issuer, token)))
		} else if !errors.Is(err, user.ErrNotFound) {
			c.fail(w, r, nil, err)
			return
		}
	}
	v.Sent = true
	c.render(w, r, http.StatusOK, "forgot", page{Title: "Forgot password", Data: v})
}
