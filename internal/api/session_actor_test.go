package api_test

import (
	"net/http"
	"testing"

	"sapient.dev/sapient/internal/audit"
	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
)

// TestSessionActorInAudit: a change made through the API with a console
// session is recorded as the person, from the request's address and with
// its user agent, as the console records its own changes.
func TestSessionActorInAudit(t *testing.T) {
	env := servertest.New(t, storetest.Backend{Name: "sqlite", URL: storetest.SQLiteURL})
	acme := env.Org(t, "Acme")
	c := sessionCaller(t, env, "alice@acme.test", store.RoleCustomer, acme.ID)
	const ua = "integration-test/1.0"
	r := c.raw(t, "POST", "/api/v1/credentials", "application/json", `{"name": "billing"}`, http.Header{"User-Agent": {ua}})
	if r.status != http.StatusCreated {
		t.Fatalf("POST /api/v1/credentials = %d %s", r.status, r.body)
	}
	events, err := env.Store.ListAudit(t.Context(), store.AuditFilter{OrgID: acme.ID, Action: audit.CredentialCreated})
	if err != nil || len(events) != 1 {
		t.Fatalf("audit = %+v, %v; want one credential.created", events, err)
	}
	e := events[0]
	if e.ActorKind != "user" || e.ActorLabel != "alice@acme.test" || e.IP != "127.0.0.1" || e.UserAgent != ua {
		t.Errorf("event by %s %q from %q with %q; want the user alice@acme.test from 127.0.0.1 with %q",
			e.ActorKind, e.ActorLabel, e.IP, e.UserAgent, ua)
	}
}
