package console

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"sapient.dev/sapient/internal/ratelimit"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/user"
)

// registerPasskeys adds the passkey routes: on Account > Two-factor
// authentication, as the second step of a login, and as a passwordless
// login. The options routes answer JSON for the page's script; the others
// are forms and answer pages.
func (c *Console) registerPasskeys(get, post func(string, http.HandlerFunc)) {
	if c.twofactor == nil || c.twofactor.WebAuthn == nil {
		return
	}
	post("/account/passkeys/options", c.enroller(c.passkeyOptions))
	post("/account/passkeys", c.enroller(c.passkeyAdd))
	post("/account/passkeys/{id}/remove", c.user(c.passkeyRemove))
	post("/login/passkey/options", c.passkeyLoginOptions)
	post("/login/passkey", c.passkeyLogin)
	post("/login/two-factor/passkey/options", c.passkeyLoginOptions)
	post("/login/two-factor/passkey", c.passkeyLogin)
}

// passkeysOn reports whether passkeys can be used here.
func (c *Console) passkeysOn() bool { return c.twofactor != nil && c.twofactor.WebAuthn != nil }

// writeCeremony answers the options of a WebAuthn ceremony.
func writeCeremony(w http.ResponseWriter, cer user.Ceremony) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(cer)
}

// passkeyOptions begins adding a passkey.
func (c *Console) passkeyOptions(w http.ResponseWriter, r *http.Request, s *session) {
	cer, err := c.twofactor.BeginPasskeyRegistration(r.Context(), s.User)
	if err != nil {
		c.log.ErrorContext(r.Context(), "console: begin passkey", "user", s.User.ID, "err", err)
		http.Error(w, `{"error":"internal"}`, http.StatusInternalServerError)
		return
	}
	writeCeremony(w, cer)
}

// passkeyAdd stores the passkey the browser made, under the name given.
func (c *Console) passkeyAdd(w http.ResponseWriter, r *http.Request, s *session) {
	name, cred := r.PostFormValue("name"), r.PostFormValue("credential")
	if cred == "" {
		c.renderTwoFactor(w, r, http.StatusUnprocessableEntity, s, twoFactorView{PasskeyError: "Adding a passkey needs JavaScript and a browser that supports passkeys."}, "")
		return
	}
	p, codes, err := c.twofactor.FinishPasskeyRegistration(r.Context(), s.Actor, s.User, r.PostFormValue("challenge"), name, []byte(cred))
	var verr *user.ValidationError
	switch {
	case errors.As(err, &verr):
		c.renderTwoFactor(w, r, http.StatusUnprocessableEntity, s, twoFactorView{PasskeyError: verr.Message}, "")
		return
	case errors.Is(err, user.ErrPasskeyRefused):
		c.log.InfoContext(r.Context(), "console: passkey refused", "user", s.User.ID)
		c.renderTwoFactor(w, r, http.StatusUnprocessableEntity, s, twoFactorView{PasskeyError: "The passkey could not be added: it did not answer as expected, or took too long. Try again."}, "")
		return
	case err != nil:
		c.fail(w, r, s, err)
		return
	}
	if s, err = c.finishEnrolment(w, r, s, "after adding a passkey"); err != nil {
		c.fail(w, r, s, err)
		return
	}
	notice := "Passkey " + p.Name + " added."
	if len(codes) > 0 {
		notice += " Save your recovery codes now: they are shown only this once."
	}
	c.renderTwoFactor(w, r, http.StatusOK, s, twoFactorView{Codes: codes}, notice)
}

// passkeyRemove removes one of the person's passkeys. Another person's
// passkey answers like an unknown one, and nothing changes.
func (c *Console) passkeyRemove(w http.ResponseWriter, r *http.Request, s *session) {
	err := c.twofactor.RemovePasskey(r.Context(), s.Actor, s.User, r.PathValue("id"))
	switch {
	case errors.Is(err, user.ErrUnknownPasskey):
		c.renderTwoFactor(w, r, http.StatusNotFound, s, twoFactorView{PasskeyError: "That passkey is not one of yours, or it was removed already."}, "")
	case errors.Is(err, user.ErrTwoFactorRequired):
		c.renderTwoFactor(w, r, http.StatusConflict, s, twoFactorView{PasskeyError: "Two-factor authentication is required for your account. Add another passkey or an authenticator app before you remove this one."}, "")
	case err != nil:
		c.fail(w, r, s, err)
	default:
		c.renderTwoFactor(w, r, http.StatusOK, s, twoFactorView{}, "The passkey is removed.")
	}
}

// ceremoniesPerSecond bounds the passkey logins one client address may
// begin: each stores a challenge until it is used or expires, and anyone
// may ask for one. A person needs one per login.
const ceremoniesPerSecond = 5

// ceremonyLimiter limits the passkey logins begun per client address.
type ceremonyLimiter struct {
	limiter *ratelimit.Limiter
	calls   atomic.Uint64
}

// allow takes one of ip's ceremonies, forgetting idle addresses now and
// then so that memory follows the clients of the last second.
func (l *ceremonyLimiter) allow(ip string, now time.Time) (bool, time.Duration) {
	if l.calls.Add(1)%4096 == 0 {
		l.limiter.Prune(now.Add(-ratelimit.FullAfter))
	}
	return l.limiter.Allow(ip, ceremoniesPerSecond, now)
}

// passkeyLoginOptions begins a login with a passkey: the second step of
// the half login of the cookie, or else a passwordless login. A client
// address begins at most ceremoniesPerSecond a second.
func (c *Console) passkeyLoginOptions(w http.ResponseWriter, r *http.Request) {
	if ok, wait := c.ceremonies.allow(c.ip(r), c.now()); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(ratelimit.RetryAfter(wait)))
		http.Error(w, `{"error":"too many passkey logins begun from this address; retry after the time in Retry-After"}`, http.StatusTooManyRequests)
		return
	}
	var who *store.User
	if r.URL.Path == "/login/two-factor/passkey/options" {
		u, _, err := c.pendingLogin(r)
		if err != nil {
			http.Error(w, `{"error":"no login in progress"}`, http.StatusUnauthorized)
			return
		}
		who = &u
	}
	cer, err := c.twofactor.BeginPasskeyLogin(r.Context(), who)
	if errors.Is(err, user.ErrPasskeyRefused) {
		http.Error(w, `{"error":"no passkey"}`, http.StatusConflict)
		return
	} else if err != nil {
		c.log.ErrorContext(r.Context(), "console: begin passkey login", "err", err)
		http.Error(w, `{"error":"internal"}`, http.StatusInternalServerError)
		return
	}
	writeCeremony(w, cer)
}

// passkeyLogin completes a login with a passkey, in a new session.
func (c *Console) passkeyLogin(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	next := safeNext(r.PostFormValue("next"))
	second := r.URL.Path == "/login/two-factor/passkey"
	var (
		who          *store.User
		pendingToken string
	)
	if second {
		u, token, ok := c.continueLogin(w, r)
		if !ok {
			return
		}
		who, pendingToken = &u, token
	}
	cred := r.PostFormValue("credential")
	from := c.actor(r, store.User{})
	u, err := c.twofactor.FinishPasskeyLogin(r.Context(), from, who, r.PostFormValue("challenge"), []byte(cred))
	if errors.Is(err, user.ErrPasskeyRefused) {
		msg := "That passkey was not accepted. Use a passkey of this account, or log in with your email and password."
		if cred == "" {
			msg = "Logging in with a passkey needs JavaScript and a browser that supports passkeys."
		}
		c.log.InfoContext(r.Context(), "console: passkey login refused", "ip", c.ip(r))
		if second {
			c.renderSecondStep(w, r, http.StatusUnprocessableEntity, *who, next, msg)
			return
		}
		c.renderLogin(w, r, http.StatusUnprocessableEntity, loginView{Next: next, Error: msg})
		return
	} else if err != nil {
		c.fail(w, r, nil, err)
		return
	}
	if !second {
		// A passwordless login ends the session this browser had, if any.
		if ck, err := r.Cookie(user.CookieName(c.secure)); err == nil {
			pendingToken = ck.Value
		}
	}
	c.completeLogin(w, r, u, pendingToken, next, "with a passkey")
}
