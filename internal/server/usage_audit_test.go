package server_test

import (
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
)

func totals(t *testing.T, s store.Store, clientID string) (issued, refused int64) {
	t.Helper()
	list, err := s.ListUsage(t.Context(), store.UsageFilter{ClientID: clientID})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range list {
		issued += b.TokensIssued
		refused += b.TokensRefused
	}
	return
}

// TestUsageExactUnderConcurrency: 50 goroutines × 40 token requests are
// counted exactly, and counts recorded before a graceful restart survive
// it.
func TestUsageExactUnderConcurrency(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		env := servertest.New(t, b, func(c *server.Config) { c.TokenRateLimit = -1 })
		acme := env.Org(t, "Acme")
		c := env.Credential(t, acme.ID, "busy", nil)
		bad := c
		bad.Secret = env.Credential(t, acme.ID, "other", nil).Secret
		h := env.Server.Handler()
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				for range 40 {
					w := httptest.NewRecorder()
					h.ServeHTTP(w, servertest.TokenRequest(c))
					if w.Code != 200 {
						t.Errorf("token request: %d %s", w.Code, w.Body)
						return
					}
				}
			})
		}
		for range 7 {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, servertest.TokenRequest(bad))
			if w.Code != 401 {
				t.Fatalf("wrong secret: %d", w.Code)
			}
		}
		wg.Wait()
		if err := env.Server.Usage.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		if issued, refused := totals(t, env.Store, c.Credential.ClientID); issued != 2_000 || refused != 7 {
			t.Fatalf("counted %d issued and %d refused, want exactly 2000 and 7", issued, refused)
		}
		// Three more, then a graceful restart without an explicit flush.
		for range 3 {
			h.ServeHTTP(httptest.NewRecorder(), servertest.TokenRequest(c))
		}
		env.Restart(t)
		if issued, _ := totals(t, env.Store, c.Credential.ClientID); issued != 2_003 {
			t.Errorf("after a graceful restart %d issued, want 2003", issued)
		}
		got, _ := env.Store.GetCredential(t.Context(), c.Credential.ClientID)
		if got.LastUsedAt.IsZero() || got.LastUsedIP == "" {
			t.Errorf("last use not recorded: %v from %q", got.LastUsedAt, got.LastUsedIP)
		}
	})
}

func actions(t *testing.T, s store.Store, orgID string) []string {
	t.Helper()
	list, err := s.ListAudit(t.Context(), store.AuditFilter{OrgID: orgID})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range list {
		out = append(out, e.Action)
		for _, secretish := range []string{credential.SecretPrefix} {
			if strings.Contains(e.Detail+e.Target, secretish) {
				t.Errorf("audit event %s holds a secret: %+v", e.Action, e)
			}
		}
	}
	return out
}

// TestAuditEvents: each credential change, key rotation, refused
// introspection and rate limiting leaves exactly its event; a change that
// fails leaves none.
func TestAuditEvents(t *testing.T) {
	env := servertest.New(t, storetest.Backends()[0], func(c *server.Config) { c.TokenRateLimit = 1 })
	acme := env.Org(t, "Acme")
	actor := access.Actor{Kind: access.KindUser, ID: "usr_x", Label: "ann@acme.test", Role: store.RoleCustomer, OrgID: acme.ID,
		IP: "192.0.2.4", UserAgent: "test-agent"}
	svc := env.Server.Credentials
	ctx := t.Context()
	c, err := svc.Create(ctx, actor, credential.CreateRequest{OrgID: acme.ID, Name: "billing"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Create(ctx, actor, credential.CreateRequest{OrgID: acme.ID, Name: "billing"}); err == nil {
		t.Fatal("duplicate name accepted")
	}
	name := "billing-2"
	if _, err := svc.Update(ctx, actor, c.Credential.ClientID, credential.UpdateRequest{Name: &name}); err != nil {
		t.Fatal(err)
	}
	rolled, err := svc.Roll(ctx, actor, c.Credential.ClientID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// Rate limited: the second immediate token request is refused.
	h := env.Server.Handler()
	rolledReq := credential.Created{Credential: rolled.Credential, Secret: rolled.Secret}
	for range 3 {
		h.ServeHTTP(httptest.NewRecorder(), servertest.TokenRequest(rolledReq))
	}
	// Introspection without the scope.
	r := httptest.NewRequest("POST", "/connect/introspect", strings.NewReader("token=x"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(rolled.Credential.ClientID, rolled.Secret)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 403 {
		t.Fatalf("introspection without scope: %d", w.Code)
	}
	if _, err := svc.Revoke(ctx, actor, c.Credential.ClientID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Revoke(ctx, actor, c.Credential.ClientID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := env.Server.Keys.Rotate(ctx); err != nil {
		t.Fatal(err)
	}

	want := []string{audit.OrgCreated, audit.CredentialCreated, audit.CredentialUpdated, audit.CredentialRolled,
		audit.CredentialRateLimit, audit.IntrospectRefused, audit.CredentialRevoked}
	deadline := time.Now().Add(3 * time.Second) // the rate-limit event is written off the request path
	var got []string
	for {
		got = actions(t, env.Store, acme.ID)
		slices.Reverse(got)
		if slices.Equal(sortedCopy(got), sortedCopy(want)) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !slices.Equal(sortedCopy(got), sortedCopy(want)) {
		t.Errorf("audit actions = %v, want each of %v exactly once", got, want)
	}
	platform, err := env.Store.ListAudit(ctx, store.AuditFilter{Action: audit.KeyRotated})
	if err != nil || len(platform) != 2 { // the first key at start, then the rotation
		t.Fatalf("key rotation events = %d, %v; want 2", len(platform), err)
	}
	if platform[0].ActorKind != string(access.KindSystem) {
		t.Errorf("rotation by the server recorded as %q", platform[0].ActorKind)
	}
	created, _ := env.Store.ListAudit(ctx, store.AuditFilter{Action: audit.CredentialCreated})
	if len(created) != 1 || created[0].IP != "192.0.2.4" || created[0].UserAgent != "test-agent" ||
		created[0].ActorLabel != "ann@acme.test" || created[0].Target != c.Credential.ClientID {
		t.Errorf("credential.created event = %+v", created)
	}
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// TestRetention: usage and audit older than the retention are pruned,
// newer ones kept.
func TestRetention(t *testing.T) {
	now := time.Now().UTC()
	env := servertest.New(t, storetest.Backends()[0], func(c *server.Config) { c.Retention = 30 * 24 * time.Hour })
	ctx := t.Context()
	old, recent := now.Add(-31*24*time.Hour), now.Add(-29*24*time.Hour)
	if err := env.Store.AddUsage(ctx, []store.UsageBucket{
		{ClientID: "c", OrgID: "o", Hour: old, APICalls: 1}, {ClientID: "c", OrgID: "o", Hour: recent, APICalls: 2},
	}); err != nil {
		t.Fatal(err)
	}
	for i, at := range []time.Time{old, recent} {
		if err := env.Store.AppendAudit(ctx, audit.Event(access.CLI, "test.event", "o", "", "", at)); err != nil {
			t.Fatal(i, err)
		}
	}
	env.Server.Prune(ctx, now)
	if u, _ := env.Store.ListUsage(ctx, store.UsageFilter{OrgID: "o"}); len(u) != 1 || u[0].APICalls != 2 {
		t.Errorf("usage after pruning: %+v", u)
	}
	if a, _ := env.Store.ListAudit(ctx, store.AuditFilter{Action: "test.event"}); len(a) != 1 || !a[0].At.After(old) {
		t.Errorf("audit after pruning: %+v", a)
	}
}

// TestLastUseExactEveryFlush: a credential's last use is written, to the
// microsecond and with the client's address, by every flush, including
// the periodic one a second after the last, and outlives the pruning of
// the usage that carried it.
func TestLastUseExactEveryFlush(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		clock := servertest.NewClock()
		clock.Add(1234 * time.Microsecond)
		env := servertest.New(t, b, servertest.WithClock(clock), func(c *server.Config) {
			c.TokenRateLimit = -1
			c.Retention = 24 * time.Hour
		})
		c := env.Credential(t, env.Org(t, "Acme").ID, "busy", nil)
		id := c.Credential.ClientID
		h := env.Server.Handler()
		request := func(ip string) {
			t.Helper()
			r := servertest.TokenRequest(c)
			r.RemoteAddr = ip + ":40000"
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != 200 {
				t.Fatalf("token request: %d %s", w.Code, w.Body)
			}
		}
		want := func(at time.Time, ip string) {
			t.Helper()
			got, err := env.Store.GetCredential(t.Context(), id)
			if err != nil || !got.LastUsedAt.Equal(at) || got.LastUsedIP != ip {
				t.Fatalf("last used %v from %q, %v; want %v from %s", got.LastUsedAt, got.LastUsedIP, err, at, ip)
			}
		}
		first := clock.Now()
		request("192.0.2.10")
		if err := env.Server.Usage.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		want(first, "192.0.2.10")
		clock.Add(time.Second)
		request("192.0.2.11")
		if err := env.Server.Usage.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		want(first.Add(time.Second), "192.0.2.11")

		env.Server.Prune(t.Context(), clock.Now().Add(48*time.Hour))
		if u, _ := env.Store.ListUsage(t.Context(), store.UsageFilter{ClientID: id}); len(u) != 0 {
			t.Fatalf("usage after pruning: %+v", u)
		}
		want(first.Add(time.Second), "192.0.2.11")
	})
}
