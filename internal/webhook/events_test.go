package webhook_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/audit"
	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/server"
	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
	"sapient.dev/sapient/internal/webhook"
	"sapient.dev/sapient/internal/webhook/webhooktest"
)

// sink is a receiver that accepts everything, so that deliveries settle.
func sink(t *testing.T) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(s.Close)
	return s.URL
}

// types lists the event types of an endpoint's deliveries, oldest first.
// Deliveries are written in the transaction of their change, so they are
// there as soon as the change returns.
func types(t *testing.T, s store.Store, endpointID string) []string {
	t.Helper()
	list, err := s.ListWebhookDeliveries(t.Context(), endpointID, 100)
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for i := len(list) - 1; i >= 0; i-- {
		out = append(out, list[i].EventType)
	}
	return out
}

func sorted(s []string) []string { slices.Sort(s); return s }

// TestEventsFromEveryChange: each change of a credential, whatever path
// makes it, enqueues its event in its own transaction for the endpoints
// that want it: the organisation's, and the Admin-level ones; another
// organisation's endpoint hears nothing; rate limiting is reported at most
// once per credential per hour; signing key rotation and retirement reach
// Admin-level endpoints only; no payload holds a secret.
func TestEventsFromEveryChange(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		clk := servertest.NewClock()
		env := servertest.New(t, b, webhooktest.FastRetries, servertest.WithClock(clk))
		ctx := t.Context()
		acme, beta := env.Org(t, "Acme"), env.Org(t, "Beta")
		url := sink(t)
		mk := func(orgID string, events []string) string {
			t.Helper()
			c, err := env.Server.Webhooks.Create(ctx, access.CLI, webhook.CreateRequest{OrgID: orgID, URL: url, Events: events})
			if err != nil {
				t.Fatal(err)
			}
			return c.Endpoint.ID
		}
		acmeHook := mk(acme.ID, webhook.OrgEvents)
		betaHook := mk(beta.ID, webhook.OrgEvents)
		adminHook := mk("", []string{webhook.CredentialCreated, webhook.CredentialLeaked, webhook.KeyRotated, webhook.KeyRetired})
		revokedOnly := mk(acme.ID, []string{webhook.CredentialRevoked})

		svc := env.Server.Credentials
		c := env.Credential(t, acme.ID, "billing", nil)
		id := c.Credential.ClientID
		name := "billing v2"
		if _, err := svc.Update(ctx, access.CLI, id, credential.UpdateRequest{Name: &name}); err != nil {
			t.Fatal(err)
		}
		rolled, err := svc.Roll(ctx, access.CLI, id, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		// A leak report is audited in the transaction that acts on it;
		// nothing else is needed for its event.
		if err := env.Store.InTx(ctx, func(tx store.Store) error {
			return audit.Write(ctx, tx, access.System, webhook.ActionCredentialLeaked, acme.ID, id, "reported at https://example.com/paste", clk.Now())
		}); err != nil {
			t.Fatal(err)
		}
		for range 3 { // refusals audited three times within the hour
			if err := audit.Write(ctx, env.Store, access.Credential(id, name, acme.ID, nil), audit.CredentialRateLimit, acme.ID, id, "refused", clk.Now()); err != nil {
				t.Fatal(err)
			}
			clk.Add(time.Minute)
		}
		if _, err := svc.Revoke(ctx, access.CLI, id); err != nil {
			t.Fatal(err)
		}
		clk.Add(56 * time.Minute) // 59 minutes after the first event: not yet
		if err := audit.Write(ctx, env.Store, access.System, audit.CredentialRateLimit, acme.ID, id, "refused", clk.Now()); err != nil {
			t.Fatal(err)
		}
		clk.Add(time.Minute) // an hour after it
		if err := audit.Write(ctx, env.Store, access.System, audit.CredentialRateLimit, acme.ID, id, "refused", clk.Now()); err != nil {
			t.Fatal(err)
		}
		kid, _, err := env.Server.Keys.Rotate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.Server.Keys.Retire(ctx, kid); err != nil {
			t.Fatal(err)
		}

		want := []string{webhook.CredentialCreated, webhook.CredentialUpdated, webhook.CredentialRolled, webhook.CredentialLeaked,
			webhook.CredentialRateLimited, webhook.CredentialRevoked, webhook.CredentialRateLimited}
		// One clock instant: the order within it is not the point.
		slices.Sort(want)
		if got := types(t, env.Store, acmeHook); !slices.Equal(sorted(got), want) {
			t.Errorf("Acme's endpoint got %v, want %v", got, want)
		}
		if got := types(t, env.Store, revokedOnly); !slices.Equal(got, []string{webhook.CredentialRevoked}) {
			t.Errorf("the revocations-only endpoint got %v", got)
		}
		if got := types(t, env.Store, betaHook); len(got) != 0 {
			t.Errorf("Beta's endpoint got %v, want nothing", got)
		}
		if got := types(t, env.Store, adminHook); !slices.Equal(sorted(got), []string{webhook.CredentialCreated, webhook.CredentialLeaked, webhook.KeyRetired, webhook.KeyRotated}) {
			t.Errorf("the Admin-level endpoint got %v", got)
		}
		list, _ := env.Store.ListWebhookDeliveries(ctx, acmeHook, 100)
		for _, d := range list {
			body := string(d.Payload)
			if strings.Contains(body, c.Secret) || strings.Contains(body, rolled.Secret) || strings.Contains(body, c.Credential.SecretHash) ||
				strings.Contains(body, "secret_hash") || !strings.Contains(body, id) || !strings.Contains(body, `"type":"`+d.EventType+`"`) {
				t.Errorf("payload of %s: %s", d.EventType, body)
			}
		}
	})
}

// TestExpiryEvents: the scan sends credential.expiring 7 days and 1 day
// before a credential expires and credential.expired after, each once,
// however often it runs; revoked credentials are left alone.
func TestExpiryEvents(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		clk := servertest.NewClock()
		env := servertest.New(t, b, webhooktest.FastRetries, servertest.WithClock(clk))
		ctx := t.Context()
		acme := env.Org(t, "Acme")
		hook, err := env.Server.Webhooks.Create(ctx, access.CLI, webhook.CreateRequest{OrgID: acme.ID, URL: sink(t),
			Events: []string{webhook.CredentialExpiring, webhook.CredentialExpired}})
		if err != nil {
			t.Fatal(err)
		}
		now := clk.Now()
		mk := func(name string, in time.Duration) string {
			t.Helper()
			c, err := env.Server.Credentials.Create(ctx, access.CLI, credential.CreateRequest{OrgID: acme.ID, Name: name, ExpiresAt: now.Add(in)})
			if err != nil {
				t.Fatal(err)
			}
			return c.Credential.ClientID
		}
		mk("in eight days", 8*24*time.Hour)
		mk("in three days", 3*24*time.Hour)
		mk("in twelve hours", 12*time.Hour)
		revoked := mk("revoked", 2*time.Hour)
		if _, err := env.Server.Credentials.Revoke(ctx, access.CLI, revoked); err != nil {
			t.Fatal(err)
		}
		scan := func(at time.Time, want int) {
			t.Helper()
			n, err := env.Server.WebhookQueue.ScanExpiry(ctx, at)
			if err != nil || n != want {
				t.Fatalf("scan at +%s: %d events, %v; want %d", at.Sub(now), n, err, want)
			}
		}
		scan(now, 2)                     // three days: 7-day warning; twelve hours: 1-day warning
		scan(now, 0)                     // each once
		scan(now.Add(13*time.Hour), 1)   // twelve hours: expired
		scan(now.Add(2*24*time.Hour), 2) // three days: within a day now; eight days: within 7 days
		scan(now.Add(2*24*time.Hour), 0)
		scan(now.Add(24*time.Hour*7/2), 1) // three days: expired
		got := types(t, env.Store, hook.Endpoint.ID)
		count := func(typ string) (n int) {
			for _, g := range got {
				if g == typ {
					n++
				}
			}
			return n
		}
		if count(webhook.CredentialExpiring) != 4 || count(webhook.CredentialExpired) != 2 {
			t.Errorf("deliveries %v: want 4 expiring and 2 expired", got)
		}
		events, _ := env.Store.ListAudit(ctx, store.AuditFilter{OrgID: acme.ID, Action: webhook.ActionCredentialExpiring})
		if len(events) != 4 {
			t.Errorf("%d credential.expiring audit events, want 4", len(events))
		}
	})
}

// TestFailingEndpointDisabled: an endpoint whose every attempt fails is
// kept while failures last less than DisableAfter; the first failure after
// that disables it, tells the organisation in the audit trail, and its
// deliveries stop; a success in between forgets the failures.
func TestFailingEndpointDisabled(t *testing.T) {
	clk := servertest.NewClock()
	env := servertest.New(t, storetest.Backends()[0], webhooktest.FastRetries, servertest.WithClock(clk))
	ctx := t.Context()
	acme := env.Org(t, "Acme")
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }))
	t.Cleanup(failing.Close)
	hook, err := env.Server.Webhooks.Create(ctx, access.CLI, webhook.CreateRequest{OrgID: acme.ID, URL: failing.URL,
		Events: []string{webhook.CredentialCreated}})
	if err != nil {
		t.Fatal(err)
	}
	id := hook.Endpoint.ID
	env.Credential(t, acme.ID, "billing", nil)
	d := webhooktest.WaitDelivery(t, env.Store, id, func(d store.WebhookDelivery) bool { return d.Attempts >= 2 })
	if d.ResponseCode != http.StatusServiceUnavailable || d.Status != store.DeliveryPending {
		t.Errorf("a failing delivery: %+v", d)
	}
	e, _ := env.Store.GetWebhookEndpoint(ctx, id)
	if e.FailingSince.IsZero() || !e.DisabledAt.IsZero() {
		t.Fatalf("after failures: %+v, want failing and enabled", e)
	}
	clk.Add(webhook.DefaultDisableAfter + time.Minute)
	webhooktest.WaitDelivery(t, env.Store, id, func(d store.WebhookDelivery) bool { return d.Status == store.DeliveryFailed })
	e, _ = env.Store.GetWebhookEndpoint(ctx, id)
	if e.DisabledAt.IsZero() || !strings.Contains(e.DisabledReason, "every delivery failed since") {
		t.Fatalf("after %s of failures: %+v, want disabled", webhook.DefaultDisableAfter, e)
	}
	told, _ := env.Store.ListAudit(ctx, store.AuditFilter{OrgID: acme.ID, Action: webhook.ActionEndpointDisabled})
	if len(told) != 1 || told[0].Target != id {
		t.Errorf("audit of the disabling: %+v", told)
	}
	// Disabled, it gets no new deliveries; enabled again, it does.
	env.Credential(t, acme.ID, "second", nil)
	if n := len(types(t, env.Store, id)); n != 1 {
		t.Errorf("a disabled endpoint got %d deliveries, want 1", n)
	}
	on := true
	if _, err := env.Server.Webhooks.Update(ctx, access.CLI, id, webhook.UpdateRequest{Enabled: &on}); err != nil {
		t.Fatal(err)
	}
	env.Credential(t, acme.ID, "third", nil)
	if n := len(types(t, env.Store, id)); n != 2 {
		t.Errorf("the endpoint enabled again has %d deliveries, want 2", n)
	}
}

// TestTwoInstancesDeliverOnce: two instances work the queue of one
// database; every event reaches the endpoint, each once (River gives a
// job to one instance at a time).
func TestTwoInstancesDeliverOnce(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		dbURL := b.Migrated(t)
		one := servertest.Start(t, dbURL, webhooktest.FastRetries)
		two := servertest.Start(t, dbURL, webhooktest.FastRetries, func(c *server.Config) { c.KEK = one.KEK })
		acme := one.Org(t, "Acme")
		var mu sync.Mutex
		seen := map[string]int{}
		rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			seen[r.Header.Get("webhook-id")]++
			mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		}))
		t.Cleanup(rcv.Close)
		hook, err := one.Server.Webhooks.Create(t.Context(), access.CLI, webhook.CreateRequest{OrgID: acme.ID, URL: rcv.URL,
			Events: []string{webhook.CredentialCreated}})
		if err != nil {
			t.Fatal(err)
		}
		const n = 20
		for i := range n {
			env := one
			if i%2 == 1 {
				env = two
			}
			env.Credential(t, acme.ID, fmt.Sprintf("cred %d", i), nil)
		}
		for range 3000 {
			list, _ := one.Store.ListWebhookDeliveries(t.Context(), hook.Endpoint.ID, 100)
			done := 0
			for _, d := range list {
				if d.Status == store.DeliveryDelivered {
					done++
				}
			}
			if done == n {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(seen) != n {
			t.Fatalf("%d distinct deliveries, want %d", len(seen), n)
		}
		for id, times := range seen {
			if times != 1 {
				t.Errorf("%s delivered %d times", id, times)
			}
		}
	})
}
