package store_test

import (
	"fmt"
	"testing"
	"time"

	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
)

// BenchmarkReadsWithPending measures the reads people see (one credential
// with its last use, an organisation's credentials, an organisation's
// usage of a day) on SQLite, with 30 flushes of 2,000 credentials' usage
// waiting in usage_pending (what 30 seconds of busy traffic leave before
// a write folds them) and with the same usage folded.
func BenchmarkReadsWithPending(b *testing.B) {
	const creds, flushes = 2000, 30
	hour := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for _, folded := range []bool{false, true} {
		s := storetest.New(b, storetest.Backend{Name: "sqlite", URL: storetest.SQLiteURL})
		ctx := b.Context()
		if err := s.CreateOrg(ctx, store.Org{ID: "org_1", Name: "Acme", CreatedAt: hour}); err != nil {
			b.Fatal(err)
		}
		for i := range creds {
			c := store.Credential{ClientID: fmt.Sprintf("sap_%05d", i), OrgID: "org_1", Name: fmt.Sprintf("c%05d", i),
				SecretHash: "x", Scopes: []string{}, CreatedAt: hour, UpdatedAt: hour}
			if _, err := s.CreateCredential(ctx, c); err != nil {
				b.Fatal(err)
			}
		}
		for f := range flushes {
			buckets := make([]store.UsageBucket, creds)
			for i := range buckets {
				buckets[i] = store.UsageBucket{ClientID: fmt.Sprintf("sap_%05d", i), OrgID: "org_1", Hour: hour, TokensIssued: 1,
					LastUsedAt: hour.Add(time.Duration(f) * time.Second), LastUsedIP: "192.0.2.1"}
			}
			if err := s.AddUsage(ctx, buckets); err != nil {
				b.Fatal(err)
			}
		}
		if folded {
			if err := s.FoldUsage(ctx); err != nil {
				b.Fatal(err)
			}
		}
		n, _ := s.PendingUsage(ctx)
		name := fmt.Sprintf("pending=%d", n)
		b.Run(name+"/GetCredential", func(b *testing.B) {
			for b.Loop() {
				if _, err := s.GetCredential(ctx, "sap_01000"); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/ListCredentials", func(b *testing.B) {
			for b.Loop() {
				if l, err := s.ListCredentials(ctx, store.CredentialFilter{OrgID: "org_1"}); err != nil || len(l) != creds {
					b.Fatal(len(l), err)
				}
			}
		})
		b.Run(name+"/ListUsage", func(b *testing.B) {
			for b.Loop() {
				if l, err := s.ListUsage(ctx, store.UsageFilter{OrgID: "org_1", From: hour, To: hour.Add(24 * time.Hour)}); err != nil || len(l) != creds {
					b.Fatal(len(l), err)
				}
			}
		})
	}
}
