package api_test

import (
	"net/http"
	"testing"
	"time"

	"sapient.dev/sapient/internal/api"
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

// TestUsersShowTwoFactor: GET /api/v1/users and /api/v1/users/{id} say
// who has a second factor.
func TestUsersShowTwoFactor(t *testing.T) {
	env := servertest.New(t, storetest.Backend{Name: "sqlite", URL: storetest.SQLiteURL})
	acme := env.Org(t, "Acme")
	alice := env.User(t, "alice@acme.test", servertest.AdminPassword, store.RoleCustomer, acme.ID)
	admin := sessionCaller(t, env, servertest.AdminEmail, store.RoleAdmin, "")
	twoFactor := func() (list, one bool) {
		t.Helper()
		var l struct{ Data []api.User }
		admin.raw(t, "GET", "/api/v1/users", "", "", nil).decode(t, &l)
		for _, u := range l.Data {
			if u.ID == alice.ID {
				list = u.TwoFactor
			}
		}
		var u api.User
		admin.raw(t, "GET", "/api/v1/users/"+alice.ID, "", "", nil).decode(t, &u)
		return list, u.TwoFactor
	}
	if l, o := twoFactor(); l || o {
		t.Errorf("two_factor before any second factor: list %v, get %v", l, o)
	}
	if err := env.Store.CreatePasskey(t.Context(), store.Passkey{ID: "k1", UserID: alice.ID, Name: "Laptop", Credential: []byte(`{}`), CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if l, o := twoFactor(); !l || !o {
		t.Errorf("two_factor with a passkey: list %v, get %v", l, o)
	}
}
