package store_test

import (
	"cmp"
	"slices"
	"strings"
	"testing"
	"time"

	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
)

// TestMigrateUsageByHour checks migration 4 on usage written by the schema
// before it: every row survives, in both directions (usage waiting to be
// folded included), and the table keyed by hour takes folded usage and
// answers reads by credential.
func TestMigrateUsageByHour(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		ctx := t.Context()
		s, err := store.Open(ctx, b.URL(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if err := s.MigrateTo(ctx, 3); err != nil {
			t.Fatal(err)
		}
		h0 := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
		h1 := h0.Add(time.Hour)
		old := []store.UsageBucket{
			{ClientID: "sap_a", Hour: h0, OrgID: "org_1", TokensIssued: 3, TokensRefused: 1, LastUsedAt: h0.Add(time.Minute), LastUsedIP: "192.0.2.1"},
			{ClientID: "sap_a", Hour: h1, OrgID: "org_1", APICalls: 7, APIRefused: 2},
			{ClientID: "sap_b", Hour: h0, OrgID: "org_2", TokensIssued: 1, LastUsedAt: h0.Add(2 * time.Minute), LastUsedIP: "2001:db8::1"},
		}
		insertOld := `INSERT INTO usage_hourly (client_id, hour, org_id, tokens_issued, tokens_refused, api_calls, api_refused, last_used_at, last_used_ip)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`
		for _, u := range old {
			var last any
			if !u.LastUsedAt.IsZero() {
				last = u.LastUsedAt.UnixMicro()
			}
			if _, err := s.DB().ExecContext(ctx, insertOld, u.ClientID, u.Hour.UnixMicro(), u.OrgID,
				u.TokensIssued, u.TokensRefused, u.APICalls, u.APIRefused, last, u.LastUsedIP); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		want := slices.Clone(old)
		slices.SortFunc(want, func(a, b store.UsageBucket) int {
			return cmp.Or(a.Hour.Compare(b.Hour), strings.Compare(a.ClientID, b.ClientID))
		})
		wantUsage(t, s, store.UsageFilter{}, want...)

		more := store.UsageBucket{ClientID: "sap_a", Hour: h1, OrgID: "org_1", TokensIssued: 1, LastUsedAt: h1.Add(time.Second), LastUsedIP: "192.0.2.9"}
		if err := s.AddUsage(ctx, []store.UsageBucket{more}); err != nil {
			t.Fatal(err)
		}
		sum := old[1]
		sum.Add(more)
		wantUsage(t, s, store.UsageFilter{ClientID: "sap_a"}, old[0], sum)

		// Usage still waiting to be folded is kept by migrating down.
		if err := s.AddUsage(ctx, []store.UsageBucket{{ClientID: "sap_b", Hour: h0, OrgID: "org_2", TokensIssued: 4}}); err != nil {
			t.Fatal(err)
		}
		if err := s.MigrateTo(ctx, 3); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := s.DB().QueryRowContext(ctx, `SELECT count(*) FROM usage_hourly
			WHERE (client_id = 'sap_a' AND api_calls = 7 AND tokens_issued = 1) OR (client_id = 'sap_b' AND tokens_issued = 5)`).Scan(&n); err != nil || n != 2 {
			t.Fatalf("after migrating down: %d of the 2 summed buckets, %v", n, err)
		}
		if _, err := s.Migrate(ctx); err != nil {
			t.Fatalf("migrating up again: %v", err)
		}
		b5 := old[2]
		b5.TokensIssued = 5
		wantUsage(t, s, store.UsageFilter{OrgID: "org_2"}, b5)
	})
}

func wantUsage(t *testing.T, s store.Store, f store.UsageFilter, want ...store.UsageBucket) {
	t.Helper()
	got, err := s.ListUsage(t.Context(), f)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("ListUsage(%+v): %d buckets, want %d: %+v", f, len(got), len(want), got)
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.ClientID != w.ClientID || !g.Hour.Equal(w.Hour) || g.OrgID != w.OrgID ||
			g.TokensIssued != w.TokensIssued || g.TokensRefused != w.TokensRefused || g.APICalls != w.APICalls ||
			g.APIRefused != w.APIRefused || !g.LastUsedAt.Equal(w.LastUsedAt) || g.LastUsedIP != w.LastUsedIP {
			t.Errorf("ListUsage(%+v)[%d] = %+v, want %+v", f, i, g, w)
		}
	}
}
