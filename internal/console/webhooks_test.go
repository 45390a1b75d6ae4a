package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/webhook"
)

// TestWebhookPagesIsolation: a Customer reaching for another
// organisation's webhook endpoint, or an Admin-level one, by URL or form
// gets exactly the answer of an unknown endpoint, and nothing changes;
// the list shows only their own; bad input is a message in the page.
func TestWebhookPagesIsolation(t *testing.T) {
	env := servertest.New(t, sqlite)
	acme, beta := env.Org(t, "Acme"), env.Org(t, "Beta")
	env.User(t, "alice@acme.test", testPassword, store.RoleCustomer, acme.ID)
	mk := func(orgID, u string) store.WebhookEndpoint {
		t.Helper()
		c, err := env.Server.Webhooks.Create(t.Context(), access.CLI, webhook.CreateRequest{OrgID: orgID, URL: u,
			Events: []string{webhook.CredentialCreated}})
		if err != nil {
			t.Fatal(err)
		}
		return c.Endpoint
	}
	theirs := mk(beta.ID, "https://beta.example.com/hooks")
	platform := mk("", "https://ops.example.com/hooks")
	env.Credential(t, beta.ID, "beta-billing", nil)

	c := &client{t: t, base: env.URL, http: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	c.login("alice@acme.test")

	for _, target := range []store.WebhookEndpoint{theirs, platform} {
		ds, _ := env.Store.ListWebhookDeliveries(t.Context(), target.ID, 10)
		if len(ds) == 0 {
			t.Fatalf("%s has no delivery", target.ID)
		}
		for _, req := range []struct {
			method, suffix string
			form           url.Values
		}{
			{http.MethodGet, "", nil},
			{http.MethodPost, "/enabled", url.Values{"enabled": {"0"}}},
			{http.MethodPost, "/delete", url.Values{}},
			{http.MethodPost, "/deliveries/" + ds[0].ID + "/resend", url.Values{}},
		} {
			got := c.do(req.method, "/webhooks/"+target.ID+req.suffix, req.form)
			unknown := c.do(req.method, "/webhooks/whe_doesnotexist"+req.suffix, req.form)
			if got.Status != http.StatusNotFound || unknown.Status != http.StatusNotFound || mainText(got.Body) != mainText(unknown.Body) {
				t.Errorf("%s %s: %d vs unknown %d", req.method, req.suffix, got.Status, unknown.Status)
			}
		}
		after, err := env.Store.GetWebhookEndpoint(t.Context(), target.ID)
		if err != nil || !after.DisabledAt.IsZero() || after.UpdatedAt != target.UpdatedAt {
			t.Errorf("%s changed: %+v, %v", target.ID, after, err)
		}
	}
	list := c.get("/webhooks")
	if list.Status != 200 || strings.Contains(list.Body, "beta.example.com") || strings.Contains(list.Body, "ops.example.com") {
		t.Errorf("the list shows another's endpoint: %d", list.Status)
	}

	// The form's organisation is an Admin's field: a Customer's endpoint
	// is their own, whatever it says.
	r := c.post("/webhooks", url.Values{"org": {beta.ID}, "url": {"https://acme.example.com/in"}, "events": {"credential.revoked"}})
	if r.Status != 200 || !strings.Contains(r.Body, "whsec_") {
		t.Fatalf("add endpoint: %d", r.Status)
	}
	if l, _ := env.Store.ListWebhookEndpoints(t.Context(), beta.ID); len(l) != 1 {
		t.Errorf("Beta has %d endpoints", len(l))
	}
	if l, _ := env.Store.ListWebhookEndpoints(t.Context(), acme.ID); len(l) != 1 {
		t.Errorf("Acme has %d endpoints", len(l))
	}
	for msg, form := range map[string]url.Values{
		"Unknown event type":        {"url": {"https://acme.example.com/in"}, "events": {"credential.exploded"}},
		"Admin-level endpoints":     {"url": {"https://acme.example.com/in"}, "events": {"key.rotated"}},
		"must begin with https://":  {"url": {"http://acme.example.com/in"}, "events": {"credential.created"}},
		"private":                   {"url": {"https://10.0.0.8/in"}, "events": {"credential.created"}},
		"Choose at least one event": {"url": {"https://acme.example.com/in"}},
	} {
		r := c.post("/webhooks", form)
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, msg) || strings.Contains(r.Body, "whsec_") {
			t.Errorf("bad form %v: %d, want 422 with %q", form, r.Status, msg)
		}
	}
}

// mainText is the page's main element, where the answer differs if at all.
func mainText(body string) string {
	if i := strings.Index(body, "<main"); i >= 0 {
		body = body[i:]
	}
	if i := strings.Index(body, "</main>"); i >= 0 {
		body = body[:i]
	}
	return body
}

// TestAdminLevelWebhook: an Admin adds an endpoint for all organisations,
// which may want the platform's events; a customer's endpoint may not.
func TestAdminLevelWebhook(t *testing.T) {
	env := servertest.New(t, sqlite)
	acme := env.Org(t, "Acme")
	c := &client{t: t, base: env.URL, http: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	r := c.post("/login", url.Values{"email": {servertest.AdminEmail}, "password": {servertest.AdminPassword}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("admin login: %d", r.Status)
	}
	page := c.get("/webhooks")
	if !strings.Contains(page.Body, "All organisations (Admin-level)") || !strings.Contains(page.Body, `value="key.rotated"`) {
		t.Fatal("the Admin's form offers no Admin-level endpoint or no key events")
	}
	r = c.post("/webhooks", url.Values{"org": {""}, "url": {"https://ops.example.com/in"}, "events": {"key.rotated", "key.retired", "credential.leaked"}})
	if r.Status != http.StatusOK || !strings.Contains(r.Body, "whsec_") {
		t.Fatalf("Admin-level endpoint: %d", r.Status)
	}
	r = c.post("/webhooks", url.Values{"org": {acme.ID}, "url": {"https://acme.example.com/in"}, "events": {"key.rotated"}})
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "Admin-level endpoints only") {
		t.Errorf("key.rotated for Acme's endpoint: %d", r.Status)
	}
	l, _ := env.Store.ListWebhookEndpoints(t.Context(), "")
	if len(l) != 1 || len(l[0].Events) != 3 {
		t.Fatalf("Admin-level endpoints: %+v", l)
	}
	if list := c.get("/webhooks"); !strings.Contains(list.Body, "ops.example.com") {
		t.Error("the Admin's list lacks the endpoint")
	}
}
