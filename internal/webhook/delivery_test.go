package webhook_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
	"sapient.dev/sapient/internal/webhook"
	"sapient.dev/sapient/internal/webhook/webhooktest"
)

// TestDeliveryLosesNothing is the "done means": an endpoint
// receives credential.created, verified by the standardwebhooks library;
// the receiver is stopped, a credential revoked, Sapient restarted, the
// receiver started again, and the revocation arrives, under the same
// webhook-id as the attempts that failed.
func TestDeliveryLosesNothing(t *testing.T) {
	dir := webhooktest.NodeDir(t)
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		env := servertest.New(t, b, webhooktest.FastRetries)
		acme := env.Org(t, "Acme")
		port := webhooktest.FreePort(t)
		created, err := env.Server.Webhooks.Create(t.Context(), access.CLI, webhook.CreateRequest{
			OrgID: acme.ID, URL: fmt.Sprintf("http://127.0.0.1:%d/hooks", port),
			Events: []string{webhook.CredentialCreated, webhook.CredentialRevoked},
		})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(created.Secret, "whsec_") {
			t.Fatalf("secret %q lacks whsec_", created.Secret)
		}
		rcv := webhooktest.StartReceiver(t, dir, port, created.Secret)

		cred := env.Credential(t, acme.ID, "billing", nil)
		got := rcv.Next(t, webhook.CredentialCreated)
		if got.Event.Data["client_id"] != cred.Credential.ClientID || got.Event.Data["name"] != "billing" ||
			got.Event.Data["organization_id"] != acme.ID {
			t.Errorf("credential.created data = %v", got.Event.Data)
		}
		if strings.Contains(got.Raw, cred.Secret) || strings.Contains(got.Raw, cred.Credential.SecretHash) {
			t.Error("the payload holds the secret or its digest")
		}

		rcv.Stop()
		if _, err := env.Server.Credentials.Revoke(t.Context(), access.CLI, cred.Credential.ClientID); err != nil {
			t.Fatal(err)
		}
		failed := webhooktest.WaitDelivery(t, env.Store, created.Endpoint.ID, func(d store.WebhookDelivery) bool {
			return d.EventType == webhook.CredentialRevoked && d.Attempts >= 1
		})
		if failed.Status != store.DeliveryPending || failed.LastError == "" {
			t.Errorf("after a failed attempt: %+v, want pending with an error", failed)
		}
		env.Restart(t)
		rcv = webhooktest.StartReceiver(t, dir, port, created.Secret)
		got = rcv.Next(t, webhook.CredentialRevoked)
		if got.ID != failed.ID || got.Event.Data["client_id"] != cred.Credential.ClientID || got.Event.Data["status"] != "revoked" {
			t.Errorf("credential.revoked: id %s (want %s), data %v", got.ID, failed.ID, got.Event.Data)
		}
		done := webhooktest.WaitDelivery(t, env.Store, created.Endpoint.ID, func(d store.WebhookDelivery) bool {
			return d.ID == failed.ID && d.Status == store.DeliveryDelivered
		})
		if done.Attempts < 2 || done.ResponseCode != 204 || done.LastError != "" {
			t.Errorf("delivered: %+v, want 2+ attempts, 204, no error", done)
		}
	})
}

// TestLeakReportFiresWebhook: a secret posted to /leaks is stopped, and
// the owner's endpoint receives credential.leaked from the leak's audit
// event alone, verified by the standardwebhooks library, without the
// secret.
func TestLeakReportFiresWebhook(t *testing.T) {
	dir := webhooktest.NodeDir(t)
	env := servertest.New(t, storetest.Backends()[0], webhooktest.FastRetries)
	acme := env.Org(t, "Acme")
	port := webhooktest.FreePort(t)
	created, err := env.Server.Webhooks.Create(t.Context(), access.CLI, webhook.CreateRequest{
		OrgID: acme.ID, URL: fmt.Sprintf("http://127.0.0.1:%d/hooks", port), Events: []string{webhook.CredentialLeaked},
	})
	if err != nil {
		t.Fatal(err)
	}
	rcv := webhooktest.StartReceiver(t, dir, port, created.Secret)
	cred := env.Credential(t, acme.ID, "leaky", nil)
	body := fmt.Sprintf(`{"secrets": [%q], "url": "https://paste.example.com/abc"}`, cred.Secret)
	resp, err := http.Post(env.URL+"/leaks", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /leaks: %d", resp.StatusCode)
	}
	got := rcv.Next(t, webhook.CredentialLeaked)
	if got.Event.Data["client_id"] != cred.Credential.ClientID || got.Event.Data["status"] != "revoked" ||
		!strings.Contains(fmt.Sprint(got.Event.Data["detail"]), "paste.example.com") {
		t.Errorf("credential.leaked data = %v", got.Event.Data)
	}
	if strings.Contains(got.Raw, cred.Secret) {
		t.Error("the leak event holds the secret")
	}
}
