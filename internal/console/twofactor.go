package console

import (
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"github.com/skip2/go-qrcode"

	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/user"
)

// registerTwoFactor adds Account > Two-factor authentication and the
// second step of the login, when two-factor authentication is on.
func (c *Console) registerTwoFactor(get, post func(string, http.HandlerFunc)) {
	if c.twofactor == nil {
		return
	}
	get("/account/two-factor", c.enroller(c.twoFactorPage))
	post("/account/two-factor/totp", c.enroller(c.totpBegin))
	post("/account/two-factor/totp/confirm", c.enroller(c.totpConfirm))
	post("/account/two-factor/totp/disable", c.user(c.totpDisable))
	post("/account/two-factor/recovery-codes", c.user(c.recoveryCodesNew))
	get("/login/two-factor", c.secondStepForm)
	post("/login/two-factor", c.secondStep)
	get("/admin/two-factor", c.admin(c.policyPage))
	post("/admin/two-factor", c.admin(c.policySave))
	post("/admin/customers/{id}/two-factor", c.admin(c.customerPolicySave))
	post("/admin/users/{id}/two-factor/reset", c.admin(c.twoFactorReset))
	c.registerPasskeys(get, post)
}

// pendingStep is where half a login of kind continues.
func pendingStep(kind string) string {
	if kind == store.PendingEnrol {
		return "/account/two-factor"
	}
	return "/login/two-factor"
}

// enroller runs h for a logged-in person, or for half a login that must
// enrol a second factor before it may go anywhere else (s.Pending).
func (c *Console) enroller(h handler) http.HandlerFunc {
	full := c.user(h)
	return func(w http.ResponseWriter, r *http.Request) {
		ck, err := r.Cookie(user.CookieName(c.secure))
		if err != nil {
			full(w, r)
			return
		}
		u, _, err := c.sessions.LookupPending(r.Context(), ck.Value, store.PendingEnrol)
		if errors.Is(err, user.ErrNoSession) {
			full(w, r)
			return
		} else if err != nil {
			c.fail(w, r, nil, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		h(w, r, &session{User: u, Actor: c.actor(r, u), token: ck.Value, Pending: true})
	}
}

// twoFactorView is the data of Account > Two-factor authentication.
type twoFactorView struct {
	Email  string
	Status user.Status
	// Pending is true while policy holds the person here until they
	// enrol.
	Pending bool
	// Enrol is the authenticator being set up, shown until confirmed.
	Enrol *totpEnrolView
	// Codes are new recovery codes, shown this once.
	Codes []string
	// Error is a message about the disable form.
	Error string
	// Passkeys is true when passkeys can be used here.
	Passkeys bool
	// PasskeyError is a message about the Passkeys section.
	PasskeyError string
}

// totpEnrolView is the QR code and secret of an authenticator app being
// set up.
type totpEnrolView struct {
	Secret string
	QR     template.URL // a data: URL of a PNG image
	Error  string
}

// renderTwoFactor shows the page. Half a login sees it without the
// navigation, since nothing else is open to it yet.
func (c *Console) renderTwoFactor(w http.ResponseWriter, r *http.Request, status int, s *session, v twoFactorView, notice string) {
	st, err := c.twofactor.Status(r.Context(), s.User)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	v.Email, v.Status, v.Pending, v.Passkeys = s.User.Email, st, s.Pending, c.passkeysOn()
	p := page{Title: "Two-factor authentication", Nav: "two-factor", S: s, Notice: notice, Data: v}
	if s.Pending {
		p.S = nil
	}
	c.render(w, r, status, "twofactor", p)
}

// twoFactorPage shows the person's second factors.
func (c *Console) twoFactorPage(w http.ResponseWriter, r *http.Request, s *session) {
	notice := ""
	if r.URL.Query().Get("disabled") == "1" {
		notice = "The authenticator app is turned off."
	}
	c.renderTwoFactor(w, r, http.StatusOK, s, twoFactorView{}, notice)
}

// totpBegin starts setting up an authenticator app: a QR code and the
// secret, and a field for the first code.
func (c *Console) totpBegin(w http.ResponseWriter, r *http.Request, s *session) {
	e, err := c.twofactor.BeginTOTP(r.Context(), s.User)
	if errors.Is(err, user.ErrTOTPEnabled) {
		c.renderTwoFactor(w, r, http.StatusConflict, s, twoFactorView{Error: "An authenticator app is already set up. Turn it off first to set up another."}, "")
		return
	} else if err != nil {
		c.fail(w, r, s, err)
		return
	}
	v, err := enrolView(e)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.renderTwoFactor(w, r, http.StatusOK, s, twoFactorView{Enrol: v}, "")
}

// enrolView draws the QR code of an enrolment.
func enrolView(e user.Enrolment) (*totpEnrolView, error) {
	png, err := qrcode.Encode(e.URL, qrcode.Medium, 256)
	if err != nil {
		return nil, err
	}
	return &totpEnrolView{Secret: e.Secret, QR: template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))}, nil
}

// totpConfirm turns the authenticator app on once its first code is right
// and shows the recovery codes once. Half a login that was held here by
// policy becomes a whole one.
func (c *Console) totpConfirm(w http.ResponseWriter, r *http.Request, s *session) {
	codes, err := c.twofactor.ConfirmTOTP(r.Context(), s.Actor, s.User, r.PostFormValue("code"))
	switch {
	case errors.Is(err, user.ErrBadCode):
		e, perr := c.twofactor.PendingTOTP(r.Context(), s.User)
		if perr != nil {
			c.fail(w, r, s, perr)
			return
		}
		v, perr := enrolView(e)
		if perr != nil {
			c.fail(w, r, s, perr)
			return
		}
		v.Error = "That code is incorrect. Enter the 6-digit code your authenticator app shows now."
		c.renderTwoFactor(w, r, http.StatusUnprocessableEntity, s, twoFactorView{Enrol: v}, "")
		return
	case errors.Is(err, user.ErrTOTPEnabled), errors.Is(err, user.ErrNoTOTPEnrolment):
		c.renderTwoFactor(w, r, http.StatusConflict, s, twoFactorView{Error: "There is no authenticator app being set up. Start again with Set up authenticator app."}, "")
		return
	case err != nil:
		c.fail(w, r, s, err)
		return
	}
	if s, err = c.finishEnrolment(w, r, s, "after enrolling an authenticator app"); err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.log.InfoContext(r.Context(), "console: authenticator app enrolled", "user", s.User.ID)
	c.renderTwoFactor(w, r, http.StatusOK, s, twoFactorView{Codes: codes},
		"Two-factor authentication is on. Save your recovery codes now: they are shown only this once.")
}

// finishEnrolment turns half a login held for enrolment into a whole one,
// in a new session; a whole session stays as it is.
func (c *Console) finishEnrolment(w http.ResponseWriter, r *http.Request, s *session, detail string) (*session, error) {
	if !s.Pending {
		return s, nil
	}
	if err := c.sessions.End(r.Context(), s.token); err != nil {
		return s, err
	}
	token, _, err := c.sessions.LoginWith(r.Context(), s.Actor, s.User, detail)
	if err != nil {
		return s, err
	}
	c.setCookie(w, token)
	full := &session{User: s.User, Actor: s.Actor, token: token}
	if s.User.Role != store.RoleAdmin {
		if full.Org, err = c.store.GetOrg(r.Context(), s.User.OrgID); err != nil {
			return s, err
		}
	}
	return full, nil
}

// proved runs an action that asks the signed-in person to prove
// themselves again: with byCode (a code of the authenticator app or a
// recovery code), or with byPassword when the form gives a password and
// no code. Guesses go through the login throttle, passwords through the
// login queue, as at login. A refused proof is answered here and ok is
// false; otherwise err is the action's, for the caller to answer.
func (c *Console) proved(w http.ResponseWriter, r *http.Request, s *session, byCode, byPassword func(string) error) (ok bool, err error) {
	ip := c.ip(r)
	if wait, ok := c.throttle.Attempt(s.User.Email, ip); !ok {
		secs := int((wait + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		c.renderTwoFactor(w, r, http.StatusTooManyRequests, s, twoFactorView{Error: tooManyAttempts(secs)}, "")
		return false, nil
	}
	code, password := r.PostFormValue("code"), r.PostFormValue("password")
	if code == "" && password != "" {
		done, qerr := c.logins.Enter(r.Context(), ip, c.throttle.Failures(ip) == 0)
		if qerr != nil {
			c.throttle.Undo(s.User.Email, ip)
			if errors.Is(qerr, user.ErrBusy) {
				w.Header().Set("Retry-After", strconv.Itoa(busyRetrySeconds))
				c.renderTwoFactor(w, r, http.StatusServiceUnavailable, s, twoFactorView{Error: "Sapient is busy checking other passwords. Try again in a second."}, "")
			}
			return false, nil
		}
		err = byPassword(password)
		done()
		if errors.Is(err, user.ErrBadLogin) {
			c.renderTwoFactor(w, r, http.StatusUnprocessableEntity, s, twoFactorView{Error: "That password is incorrect."}, "")
			return false, nil
		}
	} else {
		err = byCode(code)
	}
	if errors.Is(err, user.ErrBadCode) {
		c.log.InfoContext(r.Context(), "console: two-factor proof refused, wrong code", "user", s.User.ID, "ip", ip)
		c.renderTwoFactor(w, r, http.StatusUnprocessableEntity, s, twoFactorView{Error: "That code is incorrect. Enter a code from your authenticator app or one of your recovery codes."}, "")
		return false, nil
	}
	c.throttle.Undo(s.User.Email, ip)
	return true, err
}

// totpDisable turns the authenticator app off after a code from it, a
// recovery code or the password.
func (c *Console) totpDisable(w http.ResponseWriter, r *http.Request, s *session) {
	ok, err := c.proved(w, r, s,
		func(code string) error { return c.twofactor.DisableTOTP(r.Context(), s.Actor, s.User, code) },
		func(password string) error {
			return c.twofactor.DisableTOTPWithPassword(r.Context(), s.Actor, s.User, password)
		})
	if !ok {
		return
	}
	switch {
	case errors.Is(err, user.ErrTwoFactorRequired):
		c.renderTwoFactor(w, r, http.StatusConflict, s, twoFactorView{Error: "Two-factor authentication is required for your account. Add a passkey before you turn the authenticator app off."}, "")
	case errors.Is(err, user.ErrNoTOTPEnrolment):
		c.renderTwoFactor(w, r, http.StatusConflict, s, twoFactorView{Error: "No authenticator app is set up."}, "")
	case err != nil:
		c.fail(w, r, s, err)
	default:
		http.Redirect(w, r, "/account/two-factor?disabled=1", http.StatusSeeOther)
	}
}

// recoveryCodesNew replaces the person's recovery codes, once they proved
// themselves with a code or their password, and shows the new ones once.
func (c *Console) recoveryCodesNew(w http.ResponseWriter, r *http.Request, s *session) {
	var codes []string
	ok, err := c.proved(w, r, s,
		func(code string) (err error) {
			codes, err = c.twofactor.RegenerateRecoveryCodes(r.Context(), s.Actor, s.User, code)
			return err
		},
		func(password string) (err error) {
			codes, err = c.twofactor.RegenerateRecoveryCodesWithPassword(r.Context(), s.Actor, s.User, password)
			return err
		})
	if !ok {
		return
	}
	if errors.Is(err, user.ErrNoSecondFactor) {
		c.renderTwoFactor(w, r, http.StatusConflict, s, twoFactorView{Error: "Set up an authenticator app or a passkey first: recovery codes stand in for them."}, "")
		return
	} else if err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.renderTwoFactor(w, r, http.StatusOK, s, twoFactorView{Codes: codes}, "New recovery codes are made; the old ones no longer work. Save these now: they are shown only this once.")
}
