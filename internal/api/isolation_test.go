package api_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"sapient.dev/sapient/internal/api"
	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
	"sapient.dev/sapient/internal/usage"
)

// The tests of this file hold the management API to the rule that never
// bends: a customer can never see, use, count or change another
// organisation's data, whatever the URL, body or token says.

// isolationEnv is an instance with two organisations, each with a
// credential that has been used, so that both have credentials, usage
// and audit events.
type isolationEnv struct {
	env        *servertest.Env
	acme, beta store.Org
	aCred      string // a credential of Acme
	bCred      string // Beta's credential
	bSecret    string
	bToken     string
}

func newIsolationEnv(t *testing.T, b storetest.Backend) *isolationEnv {
	t.Helper()
	env := servertest.New(t, b)
	ie := &isolationEnv{env: env, acme: env.Org(t, "Acme"), beta: env.Org(t, "Beta")}
	a := env.Credential(t, ie.acme.ID, "acme-billing", builtins)
	bc := env.Credential(t, ie.beta.ID, "beta-billing", builtins)
	ie.aCred, ie.bCred, ie.bSecret = a.Credential.ClientID, bc.Credential.ClientID, bc.Secret
	for _, c := range []struct{ id, secret string }{{a.Credential.ClientID, a.Secret}, {bc.Credential.ClientID, bc.Secret}} {
		tok := mustToken(t, env, c.id, c.secret)
		if r := me(t, env, tok, nil); r.status != 200 {
			t.Fatalf("/me: %d %s", r.status, r.body)
		}
		if c.id == ie.bCred {
			ie.bToken = tok
		}
	}
	if err := env.Server.Usage.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	return ie
}

// usageRows reads /api/v1/usage with the query.
func usageRows(t *testing.T, c *caller, query url.Values) []usage.Row {
	t.Helper()
	r := c.call(t, http.MethodGet, "/api/v1/usage?"+query.Encode(), nil)
	if r.status != 200 {
		t.Fatalf("usage?%s: %d %s", query.Encode(), r.status, r.body)
	}
	var out struct{ Data []usage.Row }
	r.decode(t, &out)
	return out.Data
}

// auditRows reads /api/v1/audit with the query.
func auditRows(t *testing.T, c *caller, query url.Values) []api.AuditEvent {
	t.Helper()
	r := c.call(t, http.MethodGet, "/api/v1/audit?"+query.Encode(), nil)
	if r.status != 200 {
		t.Fatalf("audit?%s: %d %s", query.Encode(), r.status, r.body)
	}
	var out struct{ Data []api.AuditEvent }
	r.decode(t, &out)
	return out.Data
}

func TestIsolation(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		for _, k := range callerKinds {
			t.Run(k.name, func(t *testing.T) {
				ie := newIsolationEnv(t, b)
				testIsolation(t, ie, k.new(t, ie.env, ie.acme.ID))
			})
		}
	})
}

func testIsolation(t *testing.T, ie *isolationEnv, c *caller) {
	env := ie.env
	ctx := t.Context()
	before := stored(t, env, ie.bCred)
	countIn := func(orgID string) int {
		l, err := env.Store.ListCredentials(ctx, store.CredentialFilter{OrgID: orgID})
		if err != nil {
			t.Fatal(err)
		}
		return len(l)
	}
	bCount, aCount := countIn(ie.beta.ID), countIn(ie.acme.ID)

	// Every verb on Beta's credential is answered exactly as for a client
	// ID that does not exist.
	verbs := []struct {
		name, method, suffix string
		body                 any
	}{
		{"GET", http.MethodGet, "", nil},
		{"PATCH name", http.MethodPatch, "", map[string]any{"name": "taken over"}},
		{"PATCH scopes", http.MethodPatch, "", map[string]any{"scopes": []string{}}},
		{"PATCH allowed_cidrs", http.MethodPatch, "", map[string]any{"allowed_cidrs": []string{"192.0.2.0/24"}}},
		{"PATCH everything", http.MethodPatch, "", map[string]any{"name": "x", "scopes": []string{"usage:read"}, "allowed_cidrs": []string{}}},
		{"DELETE", http.MethodDelete, "", nil},
		{"roll at once", http.MethodPost, "/roll", map[string]any{"previous_secret_expires_in": "0s"}},
		{"roll with overlap", http.MethodPost, "/roll", map[string]any{"previous_secret_expires_in": "168h"}},
	}
	for _, v := range verbs {
		t.Run(v.name, func(t *testing.T) {
			got := c.call(t, v.method, "/api/v1/credentials/"+ie.bCred+v.suffix, v.body)
			p := got.problem(t, http.StatusNotFound, "")
			unknown := c.call(t, v.method, "/api/v1/credentials/sapci_doesnotexist"+v.suffix, v.body).problem(t, http.StatusNotFound, "")
			if p.Title != unknown.Title || p.Detail != unknown.Detail {
				t.Fatalf("another organisation's credential answered %+v, an unknown one %+v", p, unknown)
			}
			sameCredential(t, before, stored(t, env, ie.bCred))
		})
	}
	// Beta's credential still works as before: secret and token.
	if r := token(t, env, ie.bCred, ie.bSecret, nil, nil); r.status != 200 {
		t.Fatalf("Beta's secret: %d %s", r.status, r.body)
	}
	if r := me(t, env, ie.bToken, nil); r.status != 200 || len(r.Scopes) != len(builtins) {
		t.Fatalf("Beta's token: %d %s", r.status, r.body)
	}

	// Lists never hold Beta's rows, whatever the query says.
	for _, q := range []string{"", "?organization_id=" + ie.beta.ID, "?organization_id=", "?organization_id=" + ie.beta.ID + "&organization_id=" + ie.acme.ID} {
		list := c.list(t, q)
		if len(list) != aCount {
			t.Errorf("list%s: %d credentials, want Acme's %d", q, len(list), aCount)
		}
		for _, cr := range list {
			if cr.OrganizationID != ie.acme.ID || cr.ClientID == ie.bCred {
				t.Fatalf("list%s shows %+v", q, cr)
			}
		}
	}

	// Creating in Beta is refused and creates nothing anywhere.
	for _, body := range []map[string]any{
		{"name": "intruder", "organization_id": ie.beta.ID},
		{"name": "intruder", "organization_id": ie.beta.ID, "scopes": []string{}},
		{"name": "intruder", "organization_id": "org_doesnotexist"},
	} {
		c.call(t, http.MethodPost, "/api/v1/credentials", body).problem(t, http.StatusUnprocessableEntity, "organization_id")
	}
	if n := countIn(ie.beta.ID); n != bCount {
		t.Fatalf("Beta has %d credentials, had %d", n, bCount)
	}
	if n := countIn(ie.acme.ID); n != aCount {
		t.Fatalf("Acme has %d credentials, had %d", n, aCount)
	}
	// Naming its own organisation is fine.
	if cr := c.create(t, map[string]any{"name": "own", "organization_id": ie.acme.ID}); cr.OrganizationID != ie.acme.ID {
		t.Fatalf("created in %s", cr.OrganizationID)
	}

	// Usage and audit hold none of Beta's data, whatever the filter.
	queries := []url.Values{
		{},
		{"organization_id": {ie.beta.ID}},
		{"client_id": {ie.bCred}},
		{"organization_id": {ie.beta.ID}, "client_id": {ie.bCred}},
		{"granularity": {"day"}, "organization_id": {ie.beta.ID}},
		{"format": {"csv"}, "organization_id": {ie.beta.ID}},
	}
	for _, q := range queries {
		if q.Get("format") == "csv" {
			r := c.call(t, http.MethodGet, "/api/v1/usage?"+q.Encode(), nil)
			if r.status != 200 || containsAny(string(r.body), ie.beta.ID, ie.bCred) {
				t.Fatalf("usage CSV?%s: %d %s", q.Encode(), r.status, r.body)
			}
			continue
		}
		rows := usageRows(t, c, q)
		for _, row := range rows {
			if row.OrganizationID != ie.acme.ID || row.ClientID == ie.bCred {
				t.Fatalf("usage?%s shows %+v", q.Encode(), row)
			}
		}
		if q.Get("client_id") == "" && !slices.ContainsFunc(rows, func(r usage.Row) bool { return r.ClientID == ie.aCred }) {
			t.Fatalf("usage?%s lacks Acme's own credential: %+v", q.Encode(), rows)
		}
		events := auditRows(t, c, q)
		for _, e := range events {
			if e.OrganizationID != ie.acme.ID || e.Target == ie.bCred || containsAny(e.Detail, "beta-billing") {
				t.Fatalf("audit?%s shows %+v", q.Encode(), e)
			}
		}
		if !slices.ContainsFunc(events, func(e api.AuditEvent) bool { return e.Target == ie.aCred }) {
			t.Fatalf("audit?%s lacks Acme's own events: %+v", q.Encode(), events)
		}
	}
}

func containsAny(s string, subs ...string) bool {
	return slices.ContainsFunc(subs, func(sub string) bool { return sub != "" && strings.Contains(s, sub) })
}

// TestAdminSeesEveryOrganisation checks that an Admin session reaches
// every organisation and can filter by one.
func TestAdminSeesEveryOrganisation(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		ie := newIsolationEnv(t, b)
		admin := sessionCaller(t, ie.env, servertest.AdminEmail, store.RoleAdmin, "")
		if ids := admin.listIDs(t, ""); !slices.Contains(ids, ie.aCred) || !slices.Contains(ids, ie.bCred) {
			t.Fatalf("Admin's list %v lacks a credential", ids)
		}
		beta := admin.list(t, "?organization_id="+ie.beta.ID)
		if len(beta) != 1 || beta[0].ClientID != ie.bCred {
			t.Fatalf("Admin's list of Beta: %+v", beta)
		}
		if got := admin.get(t, ie.bCred); got.OrganizationID != ie.beta.ID {
			t.Fatalf("Admin's GET: %+v", got)
		}
		rows := usageRows(t, admin, url.Values{"organization_id": {ie.beta.ID}})
		if len(rows) == 0 {
			t.Fatal("Admin sees no usage of Beta")
		}
		for _, r := range rows {
			if r.OrganizationID != ie.beta.ID {
				t.Fatalf("usage filtered by Beta shows %+v", r)
			}
		}
		all := usageRows(t, admin, url.Values{})
		if !slices.ContainsFunc(all, func(r usage.Row) bool { return r.ClientID == ie.aCred }) ||
			!slices.ContainsFunc(all, func(r usage.Row) bool { return r.ClientID == ie.bCred }) {
			t.Fatalf("Admin's usage of every organisation: %+v", all)
		}
		events := auditRows(t, admin, url.Values{"organization_id": {ie.beta.ID}})
		if !slices.ContainsFunc(events, func(e api.AuditEvent) bool { return e.Target == ie.bCred }) {
			t.Fatalf("Admin's audit of Beta lacks its credential: %+v", events)
		}
		for _, e := range events {
			if e.OrganizationID != ie.beta.ID {
				t.Fatalf("audit filtered by Beta shows %+v", e)
			}
		}
		// And can change Beta's credential.
		if got := admin.call(t, http.MethodPatch, "/api/v1/credentials/"+ie.bCred, map[string]any{"name": "renamed by admin"}).credential(t, 200); got.Name != "renamed by admin" {
			t.Fatalf("Admin's rename: %+v", got)
		}
	})
}

// TestCrossSiteSession checks that a console session cannot be used from
// another site to change data, while the same request from the console's
// own pages works.
func TestCrossSiteSession(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		env := servertest.New(t, b)
		acme := env.Org(t, "Acme")
		c := sessionCaller(t, env, "alice@acme.test", store.RoleCustomer, acme.ID)
		own := c.create(t, map[string]any{"name": "own"})
		crossSite := http.Header{"Origin": {"https://evil.example"}, "Sec-Fetch-Site": {"cross-site"}}
		requests := []struct {
			name, method, path, body string
		}{
			{"create", http.MethodPost, "/api/v1/credentials", `{"name":"planted"}`},
			{"update", http.MethodPatch, "/api/v1/credentials/" + own.ClientID, `{"name":"hijacked"}`},
			{"revoke", http.MethodDelete, "/api/v1/credentials/" + own.ClientID, ``},
			{"roll", http.MethodPost, "/api/v1/credentials/" + own.ClientID + "/roll", `{"previous_secret_expires_in":"0s"}`},
		}
		for _, rq := range requests {
			t.Run(rq.name, func(t *testing.T) {
				beforeList := c.listIDs(t, "")
				before := stored(t, env, own.ClientID)
				c.raw(t, rq.method, rq.path, "application/json", rq.body, crossSite).problem(t, http.StatusForbidden, "")
				// Without Sec-Fetch-Site, an Origin of another site is
				// refused too.
				c.raw(t, rq.method, rq.path, "application/json", rq.body,
					http.Header{"Origin": {"https://evil.example"}}).problem(t, http.StatusForbidden, "")
				if after := c.listIDs(t, ""); !slices.Equal(beforeList, after) {
					t.Fatalf("list changed from %v to %v", beforeList, after)
				}
				sameCredential(t, before, stored(t, env, own.ClientID))
			})
		}
		if r := token(t, env, own.ClientID, own.ClientSecret, nil, nil); r.status != 200 {
			t.Fatalf("secret after refused cross-site roll: %d %s", r.status, r.body)
		}
		// Reading cross-site is harmless and allowed; the same change from
		// the console's own origin works.
		if r := c.raw(t, http.MethodGet, "/api/v1/credentials", "", "", crossSite); r.status != 200 {
			t.Fatalf("cross-site GET: %d %s", r.status, r.body)
		}
		sameOrigin := http.Header{"Origin": {env.URL}, "Sec-Fetch-Site": {"same-origin"}}
		if got := c.raw(t, http.MethodPost, "/api/v1/credentials", "application/json", `{"name":"legit"}`, sameOrigin).credential(t, 201); got.Name != "legit" {
			t.Fatalf("same-origin create: %+v", got)
		}
	})
}
