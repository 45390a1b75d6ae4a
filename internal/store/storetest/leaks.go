package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"sapient.dev/sapient/internal/store"
)

// testLeaks: credentials are found by their current and previous secret
// digests, revoked ones too, and never by another's; an organisation's
// leak action defaults to revoke and can be set to roll.
func testLeaks(t *testing.T, s store.Store) {
	mustOrg(t, s, "org_1", "Acme")
	mustOrg(t, s, "org_2", "Beta")
	for _, c := range []store.Credential{credential("c1", "org_1", "a"), credential("c2", "org_1", "b"), credential("c3", "org_2", "a")} {
		if _, err := s.CreateCredential(ctx(t), c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.UpdateCredential(ctx(t), "c2", func(c store.Credential) (store.Credential, error) {
		c.PreviousSecretHash, c.PreviousSecretExpiresAt = c.SecretHash, base.Add(time.Hour)
		c.SecretHash = "hash-c2-new"
		return c, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateCredential(ctx(t), "c3", func(c store.Credential) (store.Credential, error) {
		c.RevokedAt, c.RevokedBy = base, "usr_1"
		return c, nil
	}); err != nil {
		t.Fatal(err)
	}
	ids := func(hashes ...string) []string {
		t.Helper()
		list, err := s.CredentialsBySecretHash(ctx(t), hashes)
		if err != nil {
			t.Fatalf("CredentialsBySecretHash(%q): %v", hashes, err)
		}
		var out []string
		for _, c := range list {
			out = append(out, c.ClientID)
		}
		slices.Sort(out)
		return out
	}
	for _, tc := range []struct {
		hashes []string
		want   []string
	}{
		{nil, nil},
		{[]string{"nothing"}, nil},
		{[]string{"hash-c1"}, []string{"c1"}},
		{[]string{"hash-c2"}, []string{"c2"}},     // the previous secret
		{[]string{"hash-c2-new"}, []string{"c2"}}, // the current one
		{[]string{"hash-c3"}, []string{"c3"}},     // revoked
		{[]string{"hash-c1", "hash-c3", "x", ""}, []string{"c1", "c3"}},
	} {
		if got := ids(tc.hashes...); !slices.Equal(got, tc.want) {
			t.Errorf("CredentialsBySecretHash(%q) = %q, want %q", tc.hashes, got, tc.want)
		}
	}
	if a, err := s.OrgLeakAction(ctx(t), "org_1"); err != nil || a != store.LeakRevoke {
		t.Errorf("OrgLeakAction = %q, %v; want %q", a, err, store.LeakRevoke)
	}
	if err := s.SetOrgLeakAction(ctx(t), "org_1", store.LeakRoll); err != nil {
		t.Fatal(err)
	}
	if a, err := s.OrgLeakAction(ctx(t), "org_1"); err != nil || a != store.LeakRoll {
		t.Errorf("OrgLeakAction after set = %q, %v; want %q", a, err, store.LeakRoll)
	}
	if a, _ := s.OrgLeakAction(ctx(t), "org_2"); a != store.LeakRevoke {
		t.Errorf("the other organisation's leak action = %q, want %q", a, store.LeakRevoke)
	}
	if _, err := s.OrgLeakAction(ctx(t), "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("OrgLeakAction(nope): %v, want ErrNotFound", err)
	}
	if err := s.SetOrgLeakAction(ctx(t), "nope", store.LeakRoll); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetOrgLeakAction(nope): %v, want ErrNotFound", err)
	}
}
