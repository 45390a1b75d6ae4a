package console_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/webhook"
	"sapient.dev/sapient/internal/webhook/webhooktest"
)

// TestBrowserWebhooks is the story as a customer lives it: in API
// > Webhooks they add an endpoint, copy its signing secret, and their
// receiver (which verifies with the standardwebhooks library) logs
// credential.created when credentials are created; the endpoint's page
// lists the delivery, and Resend sends it again under the same
// webhook-id. Credentials about to expire are flagged on Home and in the
// table.
func TestBrowserWebhooks(t *testing.T) {
	b := newBrowser(t)
	dir := webhooktest.NodeDir(t)
	env := servertest.New(t, sqlite, webhooktest.FastRetries)
	a := &app{URL: env.URL, APIURL: env.URL, Env: env}
	acme := a.customer(t, "Acme Logistics", "alice@acme.test")
	port := webhooktest.FreePort(t)

	b.login(a.URL, "alice@acme.test", testPassword)
	b.click("link", "Webhooks", b.find("navigation", "Main"))
	b.waitURL("/webhooks")
	b.find("heading", "Webhooks")
	b.fill("URL", "ftp://example.com/hook")
	b.click("checkbox", "credential.created")
	b.click("button", "Add endpoint")
	b.waitText("The URL must begin with https://.")

	b.fill("URL", fmt.Sprintf("http://127.0.0.1:%d/hooks", port))
	b.click("button", "Add endpoint")
	b.waitText("The signing secret will never be shown again.")
	secret := b.value("Signing secret")
	if !strings.HasPrefix(secret, webhook.SecretPrefix) {
		t.Fatalf("signing secret %q", secret)
	}
	rcv := webhooktest.StartReceiver(t, dir, port, secret)

	created := env.Credential(t, acme.ID, "Billing service", nil)
	got := rcv.Next(t, webhook.CredentialCreated)
	if got.Event.Data["client_id"] != created.Credential.ClientID {
		t.Errorf("credential.created for %v, want %s", got.Event.Data["client_id"], created.Credential.ClientID)
	}

	b.open(a.URL + "/webhooks")
	b.click("button", "Deliveries of "+fmt.Sprintf("http://127.0.0.1:%d/hooks", port))
	b.find("table", "Deliveries")
	eps, _ := env.Store.ListWebhookEndpoints(t.Context(), acme.ID)
	webhooktest.WaitDelivery(t, env.Store, eps[0].ID, func(d store.WebhookDelivery) bool { return d.Status == store.DeliveryDelivered })
	b.open(a.URL + "/webhooks/" + eps[0].ID)
	rows := b.tableRows("Deliveries")
	if len(rows) != 1 || !strings.HasPrefix(rows[0]["Event"], "credential.created") || rows[0]["Status"] != "delivered" ||
		rows[0]["Attempts"] != "1" || rows[0]["Response code"] != "204" {
		t.Errorf("deliveries = %v", rows)
	}
	b.click("button", "Resend "+got.ID)
	b.waitText("The delivery is queued again")
	if again := rcv.Next(t, webhook.CredentialCreated); again.ID != got.ID {
		t.Errorf("resent under webhook-id %s, want %s", again.ID, got.ID)
	}

	// A credential that expires in two days: a banner on Home, a badge in
	// the table.
	if _, err := env.Server.Credentials.Create(t.Context(), access.CLI, credential.CreateRequest{
		OrgID: acme.ID, Name: "Short-lived", ExpiresAt: time.Now().Add(49 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	b.open(a.URL + "/")
	b.waitText("1 API credential expires within 7 days.")
	if banner := clean(eval[string](b, `document.getElementById('expiring-banner').innerText`)); !strings.Contains(banner, "Short-lived: Expires in 2 days") {
		t.Errorf("the banner says %q", banner)
	}
	b.open(a.URL + "/credentials")
	if r := row(b.tableRows("Current API Credentials"), "Short-lived"); r == nil || !strings.Contains(r["Status"], "Expires in 2 days") {
		t.Errorf("the table's row = %v, want the Expires in 2 days badge", r)
	}
}
