// Package console is Sapient's web console for people: log in, the Home
// page, API > Credentials with its Create API Credentials and API
// Credentials dialogs, change password, and the Admin pages.
//
// Pages are rendered on the server from embedded templates and work without
// JavaScript; one small embedded script turns the dialog pages into modal
// dialogs and adds the Copy buttons. Sessions live in the store (see
// user.Sessions): the cookie holds 256 random bits, the database only their
// SHA-256 digest.
package console

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"sapient.dev/sapient/internal/audit"
	"sapient.dev/sapient/internal/clientip"
	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/keys"
	"sapient.dev/sapient/internal/mail"
	"sapient.dev/sapient/internal/ratelimit"
	"sapient.dev/sapient/internal/sso"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/usage"
	"sapient.dev/sapient/internal/user"
	"sapient.dev/sapient/internal/webhook"
)

// Config is what the console needs from the server that mounts it.
type Config struct {
	Store       store.Store
	Credentials *credential.Service
	Users       *user.Service
	// Webhooks serves API > Webhooks; nil leaves the page out.
	Webhooks *webhook.Service
	Logger   *slog.Logger
	Now      func() time.Time
	// Issuer is the public base URL, for example http://localhost:8080. The
	// token endpoint shown to users is Issuer+"/connect/token", and cookies
	// are Secure when it is https.
	Issuer string
	// ClientIP finds the address of a request, for the audit trail and the
	// login throttle; nil believes the connection's peer address only.
	ClientIP *clientip.Resolver
	// Throttle slows down password guessing; nil takes
	// user.NewThrottle(Now).
	Throttle *user.Throttle
	// Logins bounds the password checks run at once and the logins
	// waiting for one; nil takes user.NewLoginQueue().
	Logins *user.LoginQueue
	// Mailer sends invitation and reset links; nil sends none.
	Mailer *mail.Mailer
	// SSO is single sign-on through OpenID Connect providers; nil turns
	// it off.
	SSO *sso.Service
	// KEK seals the secrets of authenticator apps at rest; nil turns
	// two-factor authentication off.
	KEK *keys.KEK
}

// Console serves the HTML pages. Build it with New.
type Console struct {
	store    store.Store
	creds    *credential.Service
	users    *user.Service
	hooks    *webhook.Service
	sessions *user.Sessions
	usage    *usage.Service
	audit    *audit.Service
	log      *slog.Logger
	now      func() time.Time
	issuer   string
	secure   bool
	clientIP *clientip.Resolver
	throttle *user.Throttle
	views    *views
	logins   *user.LoginQueue
	mailer   *mail.Mailer
	sso      *sso.Service
	// ceremonies limits the passkey logins begun per client address.
	ceremonies ceremonyLimiter
	// twofactor is nil when two-factor authentication is off (no KEK).
	twofactor *user.TwoFactor
}

// New checks cfg and parses the embedded templates; a missing or broken
// template fails here rather than at the first request.
func New(cfg Config) (*Console, error) {
	if cfg.Store == nil || cfg.Credentials == nil || cfg.Users == nil {
		return nil, errors.New("console: Store, Credentials and Users are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	issuer := strings.TrimRight(cfg.Issuer, "/")
	u, err := url.Parse(issuer)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("console: issuer %q must be an absolute http or https URL", cfg.Issuer)
	}
	v, err := loadViews()
	if err != nil {
		return nil, err
	}
	if cfg.ClientIP == nil {
		cfg.ClientIP = &clientip.Resolver{}
	}
	if cfg.Throttle == nil {
		cfg.Throttle = user.NewThrottle(cfg.Now)
	}
	if cfg.Logins == nil {
		cfg.Logins = user.NewLoginQueue()
	}
	var tf *user.TwoFactor
	if cfg.KEK != nil {
		tf = &user.TwoFactor{Store: cfg.Store, KEK: cfg.KEK, Now: cfg.Now, Rand: cfg.Users.Rand, Issuer: "Sapient (" + u.Hostname() + ")"}
		if tf.WebAuthn, err = user.NewWebAuthn(issuer); err != nil {
			return nil, fmt.Errorf("console: %w", err)
		}
	}
	return &Console{
		store:      cfg.Store,
		creds:      cfg.Credentials,
		users:      cfg.Users,
		hooks:      cfg.Webhooks,
		sessions:   &user.Sessions{Store: cfg.Store, Now: cfg.Now, Rand: cfg.Users.Rand},
		usage:      &usage.Service{Store: cfg.Store},
		audit:      &audit.Service{Store: cfg.Store},
		log:        cfg.Logger,
		now:        cfg.Now,
		issuer:     issuer,
		secure:     u.Scheme == "https",
		clientIP:   cfg.ClientIP,
		throttle:   cfg.Throttle,
		views:      v,
		logins:     cfg.Logins,
		mailer:     cfg.Mailer,
		twofactor:  tf,
		sso:        cfg.SSO,
		ceremonies: ceremonyLimiter{limiter: ratelimit.New()},
	}, nil
}

// maxFormBytes bounds the body of a console form.
const maxFormBytes = 64 << 10

// limitBody refuses form bodies larger than any console form needs.
func limitBody(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		h.ServeHTTP(w, r)
	})
}

// Register adds the console's routes to mux. State-changing routes refuse
// cross-origin requests, and every response carries the security headers.
func (c *Console) Register(mux *http.ServeMux) {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(c.crossOriginDenied))

	get := func(pattern string, h http.HandlerFunc) {
		mux.Handle("GET "+pattern, c.headers(h))
	}
	post := func(pattern string, h http.HandlerFunc) {
		mux.Handle("POST "+pattern, c.headers(cop.Handler(limitBody(h))))
	}

	get("/static/", c.static)

	get("/login", c.loginForm)
	post("/login", c.login)
	post("/logout", c.logout)
	get("/forgot", c.forgotForm)
	post("/forgot", c.forgot)
	if c.sso != nil {
		get("/login/sso/{id}", c.ssoBegin)
		get("/login/sso/{id}/callback", c.ssoCallback)
		get("/admin/sso", c.admin(c.ssoList))
		post("/admin/sso", c.admin(c.ssoAdd))
		post("/admin/sso/{id}/delete", c.admin(c.ssoRemove))
	}
	get(user.LinkPath, c.linkForm)
	post(user.LinkPath, c.linkSet)

	get("/{$}", c.user(c.home))
	get("/credentials", c.user(c.credentialList))
	get("/credentials/new", c.user(c.credentialNew))
	post("/credentials", c.user(c.credentialCreate))
	get("/credentials/{id}/revoke", c.user(c.credentialRevokeConfirm))
	post("/credentials/{id}/revoke", c.user(c.credentialRevoke))
	get("/credentials/{id}/roll", c.user(c.credentialRollConfirm))
	post("/credentials/{id}/roll", c.user(c.credentialRoll))
	get("/credentials/{id}/edit", c.user(c.credentialEditForm))
	post("/credentials/{id}/edit", c.user(c.credentialEdit))

	if c.hooks != nil {
		c.registerWebhooks(get, post)
	}

	get("/usage", c.user(c.usageList))
	get("/activity", c.user(c.auditList))

	get("/account/password", c.user(c.passwordForm))
	post("/account/password", c.user(c.passwordChange))
	get("/account/sessions", c.user(c.sessionList))
	post("/account/sessions/end", c.user(c.sessionEnd))
	post("/account/sessions/end-others", c.user(c.sessionEndOthers))
	c.registerTwoFactor(get, post)

	get("/admin/customers", c.admin(c.customerList))
	post("/admin/customers", c.admin(c.customerCreate))
	get("/admin/customers/{id}", c.admin(c.customerEdit))
	post("/admin/customers/{id}", c.admin(c.customerUpdate))
	post("/admin/customers/{id}/leak-action", c.admin(c.customerLeakAction))
	get("/admin/users", c.admin(c.userList))
	post("/admin/users", c.admin(c.userCreate))
	post("/admin/users/invite", c.admin(c.adminInvite))
	get("/admin/users/{id}", c.admin(c.userEdit))
	post("/admin/users/{id}", c.admin(c.userUpdate))
	post("/admin/users/{id}/disable", c.admin(c.userDisable("/admin/users")))
	post("/admin/users/{id}/enable", c.admin(c.userEnable("/admin/users")))
	get("/admin/users/{id}/delete", c.admin(c.userDeleteConfirm))
	post("/admin/users/{id}/delete", c.admin(c.userDelete))
	post("/admin/users/{id}/sessions/end", c.admin(c.userEndSessions))
	post("/admin/users/{id}/reset-link", c.admin(c.userResetLink))
	get("/team", c.owner(c.teamList))
	post("/team/invite", c.owner(c.teamInvite))
	post("/team/{id}/disable", c.owner(c.userDisable("/team")))
	post("/team/{id}/enable", c.owner(c.userEnable("/team")))
	get("/admin/scopes", c.admin(c.scopeList))
	post("/admin/scopes", c.admin(c.scopeCreate))
	get("/admin/audit", c.admin(c.auditList))
}
