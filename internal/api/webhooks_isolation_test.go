package api_test

import (
	"net/http"
	"reflect"
	"strings"
	"testing"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/api"
	"sapient.dev/sapient/internal/scope"
	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
	"sapient.dev/sapient/internal/webhook"
)

// TestWebhookIsolation: every verb of /api/v1/webhooks on another
// organisation's endpoint, or on an Admin-level one, answers exactly like
// an unknown ID and leaves the endpoint and its deliveries unchanged;
// lists never show them; nothing can be created in another organisation,
// nor can a customer subscribe to the platform's events.
func TestWebhookIsolation(t *testing.T) {
	kinds := map[string]func(t *testing.T, env *servertest.Env, orgID string) *caller{
		"bearer": func(t *testing.T, env *servertest.Env, orgID string) *caller {
			return bearerCaller(t, env, orgID, "automation", []string{scope.WebhooksRead, scope.WebhooksWrite})
		},
		"session": func(t *testing.T, env *servertest.Env, orgID string) *caller {
			return sessionCaller(t, env, "alice@acme.test", store.RoleCustomer, orgID)
		},
	}
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		for name, newCaller := range kinds {
			t.Run(name, func(t *testing.T) {
				env := servertest.New(t, b)
				acme, beta := env.Org(t, "Acme"), env.Org(t, "Beta")
				mk := func(orgID string, events ...string) store.WebhookEndpoint {
					t.Helper()
					c, err := env.Server.Webhooks.Create(t.Context(), access.CLI, webhook.CreateRequest{
						OrgID: orgID, URL: "https://hooks.example.com/" + orgID, Events: events})
					if err != nil {
						t.Fatal(err)
					}
					return c.Endpoint
				}
				own := mk(acme.ID, webhook.CredentialCreated)
				theirs := mk(beta.ID, webhook.CredentialCreated)
				platform := mk("", webhook.KeyRotated, webhook.CredentialCreated)
				env.Credential(t, beta.ID, "beta-billing", nil) // a delivery to Beta's and the platform's endpoint
				c := newCaller(t, env, acme.ID)

				snapshot := func(id string) (store.WebhookEndpoint, []store.WebhookDelivery) {
					e, err := env.Store.GetWebhookEndpoint(t.Context(), id)
					if err != nil {
						t.Fatal(err)
					}
					d, err := env.Store.ListWebhookDeliveries(t.Context(), id, 100)
					if err != nil {
						t.Fatal(err)
					}
					return e, d
				}
				for _, target := range []store.WebhookEndpoint{theirs, platform} {
					beforeE, beforeD := snapshot(target.ID)
					if len(beforeD) == 0 {
						t.Fatalf("%s has no delivery", target.ID)
					}
					verbs := []struct {
						name, method, suffix string
						body                 any
					}{
						{"GET", http.MethodGet, "", nil},
						{"PATCH url", http.MethodPatch, "", map[string]any{"url": "https://attacker.example.com/"}},
						{"PATCH events", http.MethodPatch, "", map[string]any{"events": []string{"credential.revoked"}}},
						{"PATCH disable", http.MethodPatch, "", map[string]any{"enabled": false}},
						{"DELETE", http.MethodDelete, "", nil},
						{"deliveries", http.MethodGet, "/deliveries", nil},
						{"resend", http.MethodPost, "/deliveries/" + beforeD[0].ID + "/resend", nil},
					}
					for _, v := range verbs {
						got := c.call(t, v.method, "/api/v1/webhooks/"+target.ID+v.suffix, v.body).problem(t, http.StatusNotFound, "")
						unknown := c.call(t, v.method, "/api/v1/webhooks/whe_doesnotexist"+v.suffix, v.body).problem(t, http.StatusNotFound, "")
						if got.Title != unknown.Title || got.Detail != unknown.Detail {
							t.Fatalf("%s: another's endpoint answered %+v, an unknown one %+v", v.name, got, unknown)
						}
					}
					// Their delivery through one's own endpoint is unknown too.
					c.call(t, http.MethodPost, "/api/v1/webhooks/"+own.ID+"/deliveries/"+beforeD[0].ID+"/resend", nil).problem(t, http.StatusNotFound, "")
					// Delivery attempts go on meanwhile: compare what a
					// caller could have changed.
					afterE, afterD := snapshot(target.ID)
					if afterE.URL != beforeE.URL || !reflect.DeepEqual(afterE.Events, beforeE.Events) || !afterE.DisabledAt.IsZero() ||
						afterE.UpdatedAt != beforeE.UpdatedAt || len(afterD) != len(beforeD) {
						t.Fatalf("%s changed:\n%+v\n%+v", target.ID, beforeE, afterE)
					}
					resent, _ := env.Store.ListAudit(t.Context(), store.AuditFilter{Action: webhook.ActionDeliveryResent})
					if len(resent) != 0 {
						t.Fatalf("a delivery was resent: %+v", resent)
					}
				}

				for _, q := range []string{"", "?organization_id=" + beta.ID, "?organization_id="} {
					r := c.call(t, http.MethodGet, "/api/v1/webhooks"+q, nil)
					var out struct{ Data []api.WebhookEndpoint }
					r.decode(t, &out)
					if len(out.Data) != 1 || out.Data[0].ID != own.ID {
						t.Fatalf("list%s = %+v, want only Acme's", q, out.Data)
					}
				}

				c.call(t, http.MethodPost, "/api/v1/webhooks", map[string]any{
					"url": "https://hooks.example.com/x", "events": []string{"credential.created"}, "organization_id": beta.ID,
				}).problem(t, http.StatusUnprocessableEntity, "organization_id")
				p := c.call(t, http.MethodPost, "/api/v1/webhooks", map[string]any{
					"url": "https://hooks.example.com/x", "events": []string{"key.rotated"},
				}).problem(t, http.StatusUnprocessableEntity, "events")
				if !strings.Contains(p.Detail, "Admin-level") {
					t.Errorf("key.rotated for a customer: %q", p.Detail)
				}
				if l, _ := env.Store.ListWebhookEndpoints(t.Context(), beta.ID); len(l) != 1 {
					t.Fatalf("Beta has %d endpoints", len(l))
				}
			})
		}
	})
}
