package console_test

import (
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"sapient.dev/sapient/internal/console"
	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/org"
	"sapient.dev/sapient/internal/scope"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
	"sapient.dev/sapient/internal/user"
)

// testPassword is the password of every user the tests create.
const testPassword = "correct horse battery staple"

// harness is the console on a real store behind a real HTTP server.
type harness struct {
	URL   string
	Store *store.SQL
	Users *user.Service
	Creds *credential.Service
}

// newHarness starts the console on a fresh database of backend.
func newHarness(t *testing.T, backend storetest.Backend) *harness {
	t.Helper()
	st := storetest.New(t, backend)
	now := time.Now
	if err := scope.EnsureBuiltin(t.Context(), st, now().UTC()); err != nil {
		t.Fatal(err)
	}
	h := &harness{
		Store: st,
		Users: &user.Service{Store: st, Now: now, Rand: rand.Reader},
		Creds: &credential.Service{Store: st, Now: now, Rand: rand.Reader},
	}
	mux := http.NewServeMux()
	srv := httptest.NewUnstartedServer(mux)
	h.URL = "http://" + srv.Listener.Addr().String()
	c, err := console.New(console.Config{
		Store: st, Credentials: h.Creds, Users: h.Users, Now: now, Issuer: h.URL,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	c.Register(mux)
	srv.Start()
	t.Cleanup(srv.Close)
	return h
}

// org creates a customer organisation.
func (h *harness) org(t *testing.T, name string) store.Org {
	t.Helper()
	o, err := org.Create(t.Context(), h.Store, name, time.Now().UTC())
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// user creates a user with testPassword; orgID empty makes an Admin.
func (h *harness) user(t *testing.T, email, orgID string) store.User {
	t.Helper()
	role := store.RoleCustomer
	if orgID == "" {
		role = store.RoleAdmin
	}
	u, err := h.Users.Create(t.Context(), user.CreateRequest{Email: email, Password: testPassword, Role: role, OrgID: orgID})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// testWriter sends the console's log to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}
