package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"sapient.dev/sapient/internal/store"
)

// testScanCredentials: every credential not revoked, once, with the
// fields the hot path needs; fn's error stops the scan.
func testScanCredentials(t *testing.T, s store.Store) {
	mustOrg(t, s, "org_1", "Acme")
	mustOrg(t, s, "org_2", "Beta")
	plain := credential("c1", "org_1", "plain")
	plain.Scopes = []string{"a:read", "b:write"}
	plain.ExpiresAt = base.Add(24 * time.Hour)
	rolled := credential("c2", "org_2", "rolled")
	rolled.PreviousSecretHash, rolled.PreviousSecretExpiresAt = "old-hash", base.Add(time.Hour)
	rolled.AllowedCIDRs = []string{"192.0.2.0/24", "2001:db8::/32"}
	revoked := credential("c3", "org_1", "revoked")
	revoked.RevokedAt, revoked.RevokedBy = base, "usr_1"
	for i, c := range []store.Credential{plain, rolled, revoked} {
		if _, err := s.CreateCredential(ctx(t), c); err != nil {
			t.Fatal(err)
		}
		stored, err := s.GetCredential(ctx(t), c.ClientID)
		if err != nil {
			t.Fatal(err)
		}
		switch i {
		case 0:
			plain.UpdatedAt, plain.Version = stored.UpdatedAt, stored.Version
		case 1:
			rolled.UpdatedAt, rolled.Version = stored.UpdatedAt, stored.Version
		}
	}
	got := map[string]store.Credential{}
	if err := s.ScanCredentials(ctx(t), func(c store.Credential) error {
		if _, twice := got[c.ClientID]; twice {
			t.Errorf("%s scanned twice", c.ClientID)
		}
		got[c.ClientID] = c
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("scanned %d credentials, want c1 and c2 (c3 is revoked)", len(got))
	}
	for _, want := range []store.Credential{plain, rolled} {
		c := got[want.ClientID]
		if c.OrgID != want.OrgID || c.Name != want.Name || c.SecretHash != want.SecretHash ||
			!slices.Equal(c.Scopes, want.Scopes) || !c.ExpiresAt.Equal(want.ExpiresAt) || !c.UpdatedAt.Equal(want.UpdatedAt) ||
			c.PreviousSecretHash != want.PreviousSecretHash || !c.PreviousSecretExpiresAt.Equal(want.PreviousSecretExpiresAt) ||
			!slices.Equal(c.AllowedCIDRs, want.AllowedCIDRs) || c.Version != want.Version || c.Version == 0 {
			t.Errorf("scanned %+v\nwant %+v", c, want)
		}
	}
	stop := errors.New("stop")
	calls := 0
	if err := s.ScanCredentials(ctx(t), func(store.Credential) error { calls++; return stop }); !errors.Is(err, stop) || calls != 1 {
		t.Errorf("ScanCredentials with fn failing = %v after %d calls, want fn's error after 1", err, calls)
	}
}
