// Package servertest runs a whole Sapient instance behind httptest for
// tests: a real store (SQLite file or PostgreSQL schema), real keys, real
// HTTP.
package servertest

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/keys"
	"sapient.dev/sapient/internal/org"
	"sapient.dev/sapient/internal/server"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
	"sapient.dev/sapient/internal/user"
)

// AdminPassword is the password of the Admin every Env starts with.
const AdminPassword = "correct horse battery staple"

// AdminEmail is the email of that Admin.
const AdminEmail = "admin@sapient.test"

// Env is one running instance.
type Env struct {
	URL         string
	DatabaseURL string
	Server      *server.Server
	Store       *store.SQL
	HTTP        *httptest.Server
	Logs        *Buffer // everything the instance logged, at debug level, as JSON
	KEK         *keys.KEK
	Config      server.Config

	mu      sync.RWMutex
	handler http.Handler
}

// Option changes the server configuration before start.
type Option func(*server.Config)

// New starts an instance on a database of backend b with no data in it,
// with an Admin user (AdminEmail, AdminPassword). It stops when the test
// ends.
func New(t testing.TB, b storetest.Backend, opts ...Option) *Env {
	t.Helper()
	return Start(t, b.Migrated(t), opts...)
}

// Start starts an instance on the database at databaseURL.
func Start(t testing.TB, databaseURL string, opts ...Option) *Env {
	t.Helper()
	kek, err := keys.NewKEK("servertest key-encryption secret, 32+ chars")
	if err != nil {
		t.Fatal(err)
	}
	e := &Env{DatabaseURL: databaseURL, Logs: &Buffer{}, KEK: kek}
	e.HTTP = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.RLock()
		h := e.handler
		e.mu.RUnlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(e.HTTP.Close)
	e.URL = e.HTTP.URL
	cfg := server.Config{
		KEK:    kek,
		Logger: slog.New(slog.NewJSONHandler(e.Logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Issuer: e.URL,
		// Passwords cost microseconds in tests, not 64 MiB and a tenth
		// of a second each.
		Password: user.CheapPasswordParams,
	}
	for _, o := range opts {
		o(&cfg)
	}
	e.Config = cfg
	e.start(t)
	if _, _, err := e.Server.Users.Bootstrap(t.Context(), AdminEmail, AdminPassword); err != nil {
		t.Fatalf("bootstrap admin: %v", err)
	}
	return e
}

func (e *Env) start(t testing.TB) {
	t.Helper()
	e.Store = storetest.Open(t, e.DatabaseURL)
	cfg := e.Config
	cfg.Store = e.Store
	srv, err := server.New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	e.Server = srv
	e.mu.Lock()
	e.handler = srv.Handler()
	e.mu.Unlock()
}

// Restart stops the instance and starts a new one on the same database and
// URL, as a process restart would.
func (e *Env) Restart(t testing.TB) {
	t.Helper()
	if err := e.Server.Close(); err != nil {
		t.Fatalf("close server: %v", err)
	}
	e.Store.Close()
	e.start(t)
}

// Org creates an organisation.
func (e *Env) Org(t testing.TB, name string) store.Org {
	t.Helper()
	o, err := org.Create(t.Context(), e.Store, access.CLI, name, time.Now().UTC())
	if err != nil {
		t.Fatalf("create organisation %s: %v", name, err)
	}
	return o
}

// Credential creates a credential in orgID with Admin authority; nil
// scopes means every scope the organisation may grant.
func (e *Env) Credential(t testing.TB, orgID, name string, scopes []string) credential.Created {
	t.Helper()
	c, err := e.Server.Credentials.Create(t.Context(), access.CLI, credential.CreateRequest{OrgID: orgID, Name: name, Scopes: scopes})
	if err != nil {
		t.Fatalf("create credential %s: %v", name, err)
	}
	return c
}

// User creates a console user.
func (e *Env) User(t testing.TB, email, password string, role store.Role, orgID string) store.User {
	t.Helper()
	u, err := e.Server.Users.Create(t.Context(), access.CLI, user.CreateRequest{Email: email, Password: password, Role: role, OrgID: orgID})
	if err != nil {
		t.Fatalf("create user %s: %v", email, err)
	}
	return u
}

// Buffer is a goroutine-safe bytes.Buffer for captured logs.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
