package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"sapient.dev/sapient/internal/store"
)

func testCredentialLifecycleFields(t *testing.T, s store.Store) {
	mustOrg(t, s, "org_1", "Acme")
	c := credential("c1", "org_1", "billing")
	c.AllowedCIDRs = []string{"192.0.2.0/24", "2001:db8::/32"}
	if _, err := s.CreateCredential(ctx(t), c); err != nil {
		t.Fatal(err)
	}
	got, _ := s.GetCredential(ctx(t), "c1")
	if !slices.Equal(got.AllowedCIDRs, c.AllowedCIDRs) || got.PreviousSecretHash != "" || !got.PreviousSecretExpiresAt.IsZero() {
		t.Errorf("after create: %+v", got)
	}
	until := base.Add(time.Hour)
	if _, err := s.UpdateCredential(ctx(t), "c1", func(c store.Credential) (store.Credential, error) {
		c.PreviousSecretHash, c.SecretHash = c.SecretHash, "new-hash"
		c.PreviousSecretExpiresAt = until
		c.AllowedCIDRs = nil
		c.UpdatedAt = base.Add(time.Minute)
		return c, nil
	}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GetCredential(ctx(t), "c1")
	if got.SecretHash != "new-hash" || got.PreviousSecretHash != "hash-c1" || !got.PreviousSecretExpiresAt.Equal(until) || len(got.AllowedCIDRs) != 0 {
		t.Errorf("after roll: %+v", got)
	}
}

func testOrgVersions(t *testing.T, s store.Store) {
	mustOrg(t, s, "org_1", "Acme")
	mustOrg(t, s, "org_2", "Beta")
	before, _ := s.GetOrg(ctx(t), "org_2")
	up, err := s.UpdateOrg(ctx(t), "org_2", func(o store.Org) (store.Org, error) {
		o.TokenRateLimit, o.APIRateLimit = 5, 7
		o.UpdatedAt = base.Add(-time.Hour) // the store's to stamp, not the caller's
		return o, nil
	})
	got, _ := s.GetOrg(ctx(t), "org_2")
	if err != nil || got.TokenRateLimit != 5 || got.APIRateLimit != 7 || got.Version != up.Version || got.Version <= before.Version {
		t.Errorf("UpdateOrg = %+v, %v; read %+v; want limits 5 and 7 and a version after %d", up, err, got, before.Version)
	}
	if got.UpdatedAt.Equal(base.Add(-time.Hour)) {
		t.Errorf("UpdateOrg kept the caller's UpdatedAt %v", got.UpdatedAt)
	}
	// An update that changes nothing is still a change instances must see.
	again, err := s.UpdateOrg(ctx(t), "org_2", func(o store.Org) (store.Org, error) { return o, nil })
	if err != nil || again.Version <= up.Version {
		t.Errorf("version after a second update = %d, %v; want after %d", again.Version, err, up.Version)
	}
}

func testUsage(t *testing.T, s store.Store) {
	h0 := base.Truncate(time.Hour)
	h1 := h0.Add(time.Hour)
	add := []store.UsageBucket{
		{ClientID: "c1", OrgID: "org_1", Hour: h0.Add(10 * time.Minute), TokensIssued: 2, APICalls: 5},
		{ClientID: "c1", OrgID: "org_1", Hour: h1, TokensRefused: 1, APIRefused: 2},
		{ClientID: "c2", OrgID: "org_2", Hour: h0, TokensIssued: 7},
	}
	if err := s.AddUsage(ctx(t), add); err != nil {
		t.Fatal(err)
	}
	if err := s.AddUsage(ctx(t), []store.UsageBucket{{ClientID: "c1", OrgID: "org_1", Hour: h0, TokensIssued: 3}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListUsage(ctx(t), store.UsageFilter{OrgID: "org_1"})
	if err != nil || len(got) != 2 {
		t.Fatalf("ListUsage(org_1) = %+v, %v", got, err)
	}
	if got[0].TokensIssued != 5 || got[0].APICalls != 5 || !got[0].Hour.Equal(h0) || got[1].TokensRefused != 1 || got[1].APIRefused != 2 {
		t.Errorf("ListUsage(org_1) = %+v; counts must add up per hour", got)
	}
	if got, _ := s.ListUsage(ctx(t), store.UsageFilter{From: h1}); len(got) != 1 || got[0].ClientID != "c1" {
		t.Errorf("ListUsage(from h1) = %+v", got)
	}
	if got, _ := s.ListUsage(ctx(t), store.UsageFilter{To: h1, ClientID: "c2"}); len(got) != 1 || got[0].TokensIssued != 7 {
		t.Errorf("ListUsage(c2 before h1) = %+v", got)
	}
	if n, err := s.PruneUsage(ctx(t), h1); err != nil || n != 2 {
		t.Errorf("PruneUsage = %d, %v; want 2", n, err)
	}
	// Concurrent writers to the same bucket lose nothing.
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if err := s.AddUsage(ctx(t), []store.UsageBucket{{ClientID: "c9", OrgID: "org_9", Hour: h1, APICalls: 1}}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got, _ := s.ListUsage(ctx(t), store.UsageFilter{ClientID: "c9"}); len(got) != 1 || got[0].APICalls != 10 {
		t.Errorf("concurrent AddUsage: %+v, want 10 calls", got)
	}
	// A write that fails (here, its context is gone) writes nothing, and
	// the next one succeeds, on a fresh connection if it must.
	gone, cancel := context.WithCancel(ctx(t))
	cancel()
	if err := s.AddUsage(gone, []store.UsageBucket{{ClientID: "c8", OrgID: "org_8", Hour: h1, APICalls: 1}}); err == nil {
		t.Error("AddUsage with a cancelled context succeeded")
	}
	if err := s.AddUsage(ctx(t), []store.UsageBucket{{ClientID: "c8", OrgID: "org_8", Hour: h1, APICalls: 2}}); err != nil {
		t.Fatalf("AddUsage after a failed one: %v", err)
	}
	if got, _ := s.ListUsage(ctx(t), store.UsageFilter{ClientID: "c8"}); len(got) != 1 || got[0].APICalls != 2 {
		t.Errorf("after a failed and a good AddUsage: %+v, want 2 calls", got)
	}
	// Many buckets in one call (more than one statement's worth), one of
	// them twice: every count lands once.
	var many []store.UsageBucket
	for i := range 450 {
		many = append(many, store.UsageBucket{ClientID: fmt.Sprintf("m%03d", i), OrgID: "org_m", Hour: h1, TokensIssued: int64(i + 1)})
	}
	many = append(many, store.UsageBucket{ClientID: "m007", OrgID: "org_m", Hour: h1.Add(time.Minute), APICalls: 4})
	if err := s.AddUsage(ctx(t), many); err != nil {
		t.Fatal(err)
	}
	// AddUsage may reorder what it is given, but not change it: a usage
	// flush that fails puts back exactly what it handed over.
	var issued, calls int64
	for _, b := range many {
		issued, calls = issued+b.TokensIssued, calls+b.APICalls
	}
	if len(many) != 451 || issued != 450*451/2 || calls != 4 {
		t.Errorf("after AddUsage its input holds %d buckets, %d tokens, %d calls; want 451, %d, 4", len(many), issued, calls, 450*451/2)
	}
	got, err = s.ListUsage(ctx(t), store.UsageFilter{OrgID: "org_m"})
	if err != nil || len(got) != 450 {
		t.Fatalf("ListUsage(org_m) = %d buckets, %v; want 450", len(got), err)
	}
	for i, b := range got {
		if b.ClientID != fmt.Sprintf("m%03d", i) || b.TokensIssued != int64(i+1) || (i == 7) != (b.APICalls == 4) {
			t.Errorf("bucket %d = %+v", i, b)
		}
	}
}

func auditEvent(id, org, action string, at time.Time) store.AuditEvent {
	return store.AuditEvent{ID: id, At: at, OrgID: org, ActorKind: "user", ActorID: "usr_1", ActorLabel: "ann@acme.test",
		Action: action, Target: "c1", IP: "192.0.2.1", UserAgent: "test", Detail: "d"}
}

func testAudit(t *testing.T, s store.Store) {
	events := []store.AuditEvent{
		auditEvent("e1", "org_1", "credential.created", base),
		auditEvent("e2", "org_1", "credential.revoked", base.Add(time.Minute)),
		auditEvent("e3", "org_2", "credential.created", base.Add(2*time.Minute)),
		auditEvent("e4", "", "login.failed", base.Add(3*time.Minute)),
		auditEvent("e5", "org_3", "credential.created", base.Add(2*time.Minute)),
		auditEvent("e6", "org_3", "credential.created", base.Add(2*time.Minute)),
	}
	for _, e := range events {
		if err := s.AppendAudit(ctx(t), e); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(list []store.AuditEvent) []string {
		var out []string
		for _, e := range list {
			out = append(out, e.ID)
		}
		return out
	}
	all, err := s.ListAudit(ctx(t), store.AuditFilter{})
	if err != nil || !slices.Equal(ids(all), []string{"e4", "e6", "e5", "e3", "e2", "e1"}) || all[5] != events[0] {
		t.Errorf("ListAudit() = %v, %v; want newest first and every field kept", ids(all), err)
	}
	for name, tc := range map[string]struct {
		f    store.AuditFilter
		want []string
	}{
		"org":    {store.AuditFilter{OrgID: "org_1"}, []string{"e2", "e1"}},
		"action": {store.AuditFilter{Action: "credential.created"}, []string{"e6", "e5", "e3", "e1"}},
		"range":  {store.AuditFilter{From: base.Add(time.Minute), To: base.Add(3 * time.Minute)}, []string{"e6", "e5", "e3", "e2"}},
		"page":   {store.AuditFilter{Before: base.Add(2 * time.Minute), Limit: 1}, []string{"e2"}},
		// e5 and e6 share e3's time: paging by (time, ID) skips none of them.
		"page at a tie": {store.AuditFilter{Before: base.Add(2 * time.Minute), BeforeID: "e5", Limit: 2}, []string{"e3", "e2"}},
	} {
		if got, err := s.ListAudit(ctx(t), tc.f); err != nil || !slices.Equal(ids(got), tc.want) {
			t.Errorf("%s: ListAudit = %v, %v; want %v", name, ids(got), err, tc.want)
		}
	}
	if n, err := s.PruneAudit(ctx(t), base.Add(90*time.Second)); err != nil || n != 2 {
		t.Errorf("PruneAudit = %d, %v; want 2", n, err)
	}
}

// testTransactions checks that InTx commits all or nothing, so an audit
// event exists exactly when its change does.
func testTransactions(t *testing.T, s store.Store) {
	mustOrg(t, s, "org_1", "Acme")
	err := s.InTx(ctx(t), func(tx store.Store) error {
		if _, err := tx.CreateCredential(ctx(t), credential("c1", "org_1", "billing")); err != nil {
			return err
		}
		return tx.AppendAudit(ctx(t), auditEvent("e1", "org_1", "credential.created", base))
	})
	if err != nil {
		t.Fatalf("InTx commit: %v", err)
	}
	if _, err := s.GetCredential(ctx(t), "c1"); err != nil {
		t.Errorf("committed credential: %v", err)
	}
	if list, _ := s.ListAudit(ctx(t), store.AuditFilter{}); len(list) != 1 {
		t.Errorf("committed audit events: %d, want 1", len(list))
	}

	boom := errors.New("boom")
	err = s.InTx(ctx(t), func(tx store.Store) error {
		if _, err := tx.CreateCredential(ctx(t), credential("c2", "org_1", "reports")); err != nil {
			return err
		}
		if err := tx.AppendAudit(ctx(t), auditEvent("e2", "org_1", "credential.created", base)); err != nil {
			return err
		}
		// Nested calls join the transaction.
		if _, err := tx.UpdateCredential(ctx(t), "c1", func(c store.Credential) (store.Credential, error) {
			c.Name = "renamed"
			return c, nil
		}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx error = %v, want the function's", err)
	}
	if _, err := s.GetCredential(ctx(t), "c2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("rolled-back credential exists: %v", err)
	}
	if c, _ := s.GetCredential(ctx(t), "c1"); c.Name != "billing" {
		t.Errorf("rolled-back rename kept: %q", c.Name)
	}
	if list, _ := s.ListAudit(ctx(t), store.AuditFilter{}); len(list) != 1 {
		t.Errorf("audit events after rollback: %d, want 1 (none for the rolled-back change)", len(list))
	}
}
