package api

import (
	_ "embed"
	"log/slog"
	"net/http"
	"time"

	"sapient.dev/sapient/internal/audit"
	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/mail"
	"sapient.dev/sapient/internal/scope"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/usage"
	"sapient.dev/sapient/internal/user"
	"sapient.dev/sapient/internal/webhook"
)

// Config is what the API needs.
type Config struct {
	Auth        *Auth
	Credentials *credential.Service
	Webhooks    *webhook.Service
	Store       store.Store
	Logger      *slog.Logger
	Now         func() time.Time
	// Users is the user service of /api/v1/users, and Issuer the base of
	// the invitation links it returns.
	Users  *user.Service
	Issuer string
	Mailer *mail.Mailer // nil: invitation links are only returned
}

// Route is one operation of the API. The table drives both the mux and the
// test that holds the OpenAPI document to the code.
type Route struct {
	Method  string
	Path    string // as in the OpenAPI document, with {name} parameters
	Scope   string // the scope a bearer token needs; "" for any valid token
	Session bool   // a console session may call it too
	Handler http.HandlerFunc
}

// API is Sapient's REST API.
type API struct {
	cfg    Config
	routes []Route
}

// New builds the API.
func New(cfg Config) *API {
	creds := &Credentials{Service: cfg.Credentials, Logger: cfg.Logger, Now: cfg.Now}
	usageLog := &Usage{Service: &usage.Service{Store: cfg.Store}, Logger: cfg.Logger, Now: cfg.Now}
	auditLog := &AuditLog{Service: &audit.Service{Store: cfg.Store}, Logger: cfg.Logger}
	me := &Me{}
	hooks := &Webhooks{Service: cfg.Webhooks, Logger: cfg.Logger}
	users := &Users{Service: cfg.Users, Logger: cfg.Logger, Issuer: cfg.Issuer, Mailer: cfg.Mailer}
	return &API{cfg: cfg, routes: []Route{
		{"GET", "/api/v1/me", "", false, me.ServeHTTP},
		{"GET", "/api/v1/credentials", scope.CredentialsRead, true, creds.list},
		{"POST", "/api/v1/credentials", scope.CredentialsWrite, true, creds.create},
		{"GET", "/api/v1/credentials/{client_id}", scope.CredentialsRead, true, creds.get},
		{"PATCH", "/api/v1/credentials/{client_id}", scope.CredentialsWrite, true, creds.update},
		{"DELETE", "/api/v1/credentials/{client_id}", scope.CredentialsWrite, true, creds.revoke},
		{"POST", "/api/v1/credentials/{client_id}/roll", scope.CredentialsWrite, true, creds.roll},
		{"GET", "/api/v1/usage", scope.UsageRead, true, usageLog.list},
		{"GET", "/api/v1/audit", scope.AuditRead, true, auditLog.list},
		{"GET", "/api/v1/webhooks", scope.WebhooksRead, true, hooks.list},
		{"POST", "/api/v1/webhooks", scope.WebhooksWrite, true, hooks.create},
		{"GET", "/api/v1/webhooks/{id}", scope.WebhooksRead, true, hooks.get},
		{"PATCH", "/api/v1/webhooks/{id}", scope.WebhooksWrite, true, hooks.update},
		{"DELETE", "/api/v1/webhooks/{id}", scope.WebhooksWrite, true, hooks.delete},
		{"GET", "/api/v1/webhooks/{id}/deliveries", scope.WebhooksRead, true, hooks.deliveries},
		{"POST", "/api/v1/webhooks/{id}/deliveries/{delivery_id}/resend", scope.WebhooksWrite, true, hooks.resend},
		{"GET", "/api/v1/users", scope.UsersRead, true, users.list},
		{"POST", "/api/v1/users", scope.UsersWrite, true, users.invite},
		{"GET", "/api/v1/users/{id}", scope.UsersRead, true, users.get},
		{"PATCH", "/api/v1/users/{id}", scope.UsersWrite, true, users.update},
		{"DELETE", "/api/v1/users/{id}", scope.UsersWrite, true, users.remove},
	}}
}

// Routes lists the operations.
func (a *API) Routes() []Route { return a.routes }

//go:embed openapi.json
var openAPIDocument []byte

// OpenAPI returns the OpenAPI 3.1 document that describes the API.
func OpenAPI() []byte { return openAPIDocument }

// Register mounts the API on mux. State-changing calls are protected
// against cross-site requests, which matters for console sessions.
func (a *API) Register(mux *http.ServeMux) {
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		problem(w, r, http.StatusForbidden, "Forbidden",
			"Cross-origin request refused: a console session can change data only from the console's own pages.", nil)
	}))
	for _, rt := range a.routes {
		var h http.Handler = rt.Handler
		if rt.Session {
			h = a.cfg.Auth.BearerOrSession(h, rt.Scope)
		} else {
			h = a.cfg.Auth.Bearer(h, rt.Scope)
		}
		mux.Handle(rt.Method+" "+rt.Path, csrf.Handler(h))
	}
	mux.HandleFunc("GET /api/v1/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Write(openAPIDocument)
	})
	// Anything else under /api/ is a JSON 404 rather than the console's page.
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		problem(w, r, http.StatusNotFound, "Not found", "No such API operation; see /api/v1/openapi.json.", nil)
	})
}
