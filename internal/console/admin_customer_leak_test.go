package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/audit"
	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/store"
)

// TestCustomerLeakAction: on a customer's page an Admin chooses what a
// reported leak does; anything but revoke and roll, an unknown customer
// and a customer user are refused, and nothing changes.
func TestCustomerLeakAction(t *testing.T) {
	h := newHarness(t, sqlite)
	h.user(t, "root@sapient.test", "")
	acme := h.org(t, "Acme")
	h.user(t, "ann@acme.test", acme.ID)
	admin := h.client(t)
	admin.login("root@sapient.test")
	action := func() string {
		t.Helper()
		a, err := h.Store.OrgLeakAction(t.Context(), acme.ID)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}

	page := admin.get("/admin/customers/" + acme.ID)
	if page.Status != http.StatusOK || !strings.Contains(page.Body, "When a secret is reported leaked") ||
		!strings.Contains(page.Body, `value="revoke" checked`) {
		t.Fatalf("customer page = %d, want the leak action with Revoke chosen\n%s", page.Status, page.Body)
	}
	r := admin.post("/admin/customers/"+acme.ID+"/leak-action", url.Values{"leak_action": {"roll"}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("save = %d\n%s", r.Status, r.Body)
	}
	if a := action(); a != store.LeakRoll {
		t.Fatalf("leak action = %q, want roll", a)
	}
	page = admin.get(r.Header.Get("Location"))
	if !strings.Contains(page.Body, "What a reported leak does is saved.") || !strings.Contains(page.Body, `value="roll" checked`) {
		t.Errorf("after saving: no confirmation, or Roll not chosen\n%s", page.Body)
	}
	evs, _ := h.Store.ListAudit(t.Context(), store.AuditFilter{Action: audit.OrgUpdated, OrgID: acme.ID})
	if len(evs) == 0 || !strings.Contains(evs[0].Detail, "rolls") || evs[0].ActorLabel != "root@sapient.test" {
		t.Errorf("organisation.updated events = %+v", evs)
	}

	for _, tc := range []struct {
		name   string
		path   string
		form   url.Values
		status int
	}{
		{"unknown action", "/admin/customers/" + acme.ID + "/leak-action", url.Values{"leak_action": {"ignore"}}, http.StatusUnprocessableEntity},
		{"no action", "/admin/customers/" + acme.ID + "/leak-action", url.Values{}, http.StatusUnprocessableEntity},
		{"unknown customer", "/admin/customers/org_nope/leak-action", url.Values{"leak_action": {"revoke"}}, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := admin.post(tc.path, tc.form); r.Status != tc.status {
				t.Errorf("= %d, want %d", r.Status, tc.status)
			}
		})
	}
	ann := h.client(t)
	ann.login("ann@acme.test")
	if r := ann.post("/admin/customers/"+acme.ID+"/leak-action", url.Values{"leak_action": {"revoke"}}); r.Status == http.StatusSeeOther || r.Status == http.StatusOK {
		t.Errorf("a customer user chose the leak action: %d", r.Status)
	}
	if a := action(); a != store.LeakRoll {
		t.Errorf("leak action = %q after refused changes, want roll", a)
	}
}

// TestActivityShowsLeaks: a reported leak appears in the Activity of the
// credential's organisation, with the URL and no secret, and in no other
// organisation's.
func TestActivityShowsLeaks(t *testing.T) {
	h := newHarness(t, sqlite)
	acme, beta := h.org(t, "Acme"), h.org(t, "Beta")
	h.user(t, "ann@acme.test", acme.ID)
	h.user(t, "bob@beta.test", beta.ID)
	c, err := h.Creds.Create(t.Context(), access.CLI, credential.CreateRequest{OrgID: acme.ID, Name: "billing"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Creds.ReportLeaked(t.Context(), credential.LeakReporter("203.0.113.9", credential.LeakSourceReport),
		credential.LeakReport{Secrets: []string{c.Secret}, URL: "https://paste.example/xyz", Source: credential.LeakSourceReport}); err != nil {
		t.Fatal(err)
	}
	ann := h.client(t)
	ann.login("ann@acme.test")
	page := ann.get("/activity?action=" + audit.CredentialLeaked)
	if page.Status != http.StatusOK || !strings.Contains(page.Body, "https://paste.example/xyz") || !strings.Contains(page.Body, "203.0.113.9") {
		t.Errorf("Acme's Activity does not show the leak\n%s", page.Body)
	}
	if strings.Contains(page.Body, c.Secret) {
		t.Error("Activity shows the secret")
	}
	bob := h.client(t)
	bob.login("bob@beta.test")
	if page := bob.get("/activity"); strings.Contains(page.Body, "paste.example") {
		t.Error("Beta's Activity shows Acme's leak")
	}
}
