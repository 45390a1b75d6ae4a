package edge_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"sapient.dev/sapient/internal/scope"
	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
)

// TestUsageReports: POST /edge/usage takes a verifier's counts whole or
// refuses them whole with a precise error; only a token holding
// sapient:verify may report; a client ID Sapient does not know counts as a
// call whose credential was not identified, never for a credential.
func TestUsageReports(t *testing.T) {
	env := servertest.New(t, storetest.Backend{Name: "sqlite", URL: storetest.SQLiteURL})
	acme := env.Org(t, "Acme")
	verifier := env.Credential(t, acme.ID, "verifier", []string{scope.Verify})
	caller := env.Credential(t, acme.ID, "caller", nil)
	vt, ct := env.Token(t, verifier), env.Token(t, caller)
	post := func(bearer, body string) (int, string) {
		r := httptest.NewRequest(http.MethodPost, "/edge/usage", strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+bearer)
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		env.Server.Handler().ServeHTTP(w, r)
		return w.Code, w.Body.String()
	}
	id := caller.Credential.ClientID
	for _, tt := range []struct {
		name, bearer, body string
		status             int
		want               string
	}{
		{"without sapient:verify", ct, `{"calls":[]}`, 403, "insufficient_scope"},
		{"not JSON", vt, `calls`, 400, "must be JSON"},
		{"unknown field", vt, `{"calls":[],"extra":1}`, 400, "must be JSON"},
		{"two objects", vt, `{"calls":[]} {}`, 400, "one JSON object"},
		{"unknown outcome", vt, `{"calls":[{"client_id":"` + id + `","route":"r","outcome":"maybe","count":1}]}`, 400, "calls[0].outcome"},
		{"count zero", vt, `{"calls":[{"client_id":"` + id + `","route":"r","outcome":"accepted","count":0}]}`, 400, "calls[0].count"},
		{"bad route", vt, `{"calls":[{"client_id":"` + id + `","route":"a b","outcome":"accepted","count":1}]}`, 400, "calls[0].route"},
		{"too many entries", vt, `{"calls":[` + strings.Repeat(`{"route":"r","outcome":"accepted","count":1},`, 10_000) + `{"route":"r","outcome":"accepted","count":1}]}`, 400, "at most"},
		{"counted", vt, `{"calls":[{"client_id":"` + id + `","route":"shipments","outcome":"accepted","count":7},` +
			`{"client_id":"` + id + `","route":"shipments","outcome":"insufficient_scope","count":2},` +
			`{"client_id":"sapci_notsapientsnotsapientsn","route":"shipments","outcome":"invalid_token","count":3}]}`, 204, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, body := post(tt.bearer, tt.body)
			if code != tt.status || !strings.Contains(body, tt.want) {
				t.Errorf("%d %s, want %d with %q", code, body, tt.status, tt.want)
			}
		})
	}
	if err := env.Server.Usage.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	rows, err := env.Store.ListRouteUsage(t.Context(), store.UsageFilter{From: time.Now().Add(-2 * time.Hour), To: time.Now().Add(2 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	got := map[[3]string]int64{}
	for _, r := range rows {
		got[[3]string{r.ClientID, r.Route, r.Outcome}] += r.Calls
	}
	want := map[[3]string]int64{{id, "shipments", "accepted"}: 7, {id, "shipments", "insufficient_scope"}: 2, {"", "shipments", "invalid_token"}: 3}
	if len(got) != len(want) {
		t.Errorf("route usage %v, want %v (a refused report counted nothing)", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%v: %d, want %d", k, got[k], n)
		}
	}
	buckets, _ := env.Store.ListUsage(t.Context(), store.UsageFilter{ClientID: id})
	var calls, refused int64
	for _, b := range buckets {
		calls, refused = calls+b.APICalls, refused+b.APIRefused
	}
	// The report's 7 and 2, and the caller's own refused call to
	// /edge/usage without sapient:verify.
	if calls != 7 || refused != 3 {
		t.Errorf("the caller's API calls: %d and %d refused, want 7 and 3", calls, refused)
	}
}
