package api_test

import (
	"net/http"
	"testing"

	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
)

// TestHalfLoginReachesNoAPI: a login held for its second factor (here,
// for enrolment the policy requires) carries a session cookie, which the
// API refuses like no session at all.
func TestHalfLoginReachesNoAPI(t *testing.T) {
	env := servertest.New(t, storetest.Backend{Name: "sqlite", URL: storetest.SQLiteURL})
	acme := env.Org(t, "Acme")
	env.User(t, "alice@acme.test", servertest.AdminPassword, store.RoleCustomer, acme.ID)
	if err := env.Store.SetTwoFactorPolicy(t.Context(), acme.ID, store.RequireEveryone); err != nil {
		t.Fatal(err)
	}
	ck := login(t, env, "alice@acme.test", servertest.AdminPassword)
	r := send(t, http.MethodGet, env.URL+"/api/v1/credentials", http.Header{"Cookie": {ck.Name + "=" + ck.Value}}, nil)
	if r.status != http.StatusUnauthorized {
		t.Errorf("GET /api/v1/credentials with a half login = %d %s, want 401", r.status, r.body)
	}
	if err := env.Store.SetTwoFactorPolicy(t.Context(), acme.ID, store.RequireNobody); err != nil {
		t.Fatal(err)
	}
	ck = login(t, env, "alice@acme.test", servertest.AdminPassword)
	r = send(t, http.MethodGet, env.URL+"/api/v1/credentials", http.Header{"Cookie": {ck.Name + "=" + ck.Value}}, nil)
	if r.status != http.StatusOK {
		t.Errorf("GET /api/v1/credentials with a whole login = %d, want 200", r.status)
	}
}
