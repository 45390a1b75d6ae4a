package api_test

import (
	"net/http"
	"testing"
	"time"

	"sapient.dev/sapient/internal/scope"
	"sapient.dev/sapient/internal/server"
	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
)

// TestCallsCountedAtTheServersTime: an API call, accepted or refused, is
// counted in the hour of the server's clock at the check, the clock the
// token was verified by, whatever the machine's own clock says.
func TestCallsCountedAtTheServersTime(t *testing.T) {
	at := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	env := servertest.New(t, storetest.Backends()[0], func(c *server.Config) { c.Now = func() time.Time { return at } })
	acme := env.Org(t, "Acme")
	c := env.Credential(t, acme.ID, "reader", []string{scope.CredentialsRead})
	h := http.Header{"Authorization": {"Bearer " + env.Token(t, c)}}
	if r := send(t, http.MethodGet, env.URL+"/api/v1/me", h, nil); r.status != http.StatusOK {
		t.Fatalf("/api/v1/me: %d %s", r.status, r.body)
	}
	if r := send(t, http.MethodGet, env.URL+"/api/v1/audit", h, nil); r.status != http.StatusForbidden {
		t.Fatalf("/api/v1/audit without audit:read: %d %s", r.status, r.body)
	}
	if err := env.Server.Usage.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	list, err := env.Store.ListUsage(t.Context(), store.UsageFilter{ClientID: c.Credential.ClientID})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || !list[0].Hour.Equal(at.Truncate(time.Hour)) || list[0].APICalls != 1 || list[0].APIRefused != 1 {
		t.Fatalf("usage = %+v; want one call and one refusal in the hour of %s", list, at)
	}
}
