// Package storetest holds the conformance suite that every store backend
// must pass, and helpers that give tests a fresh database of each kind.
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

// RunTests runs the conformance suite. newStore must return an empty,
// migrated store that is closed when the test ends.
func RunTests(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s store.Store)
	}{
		{"Orgs", testOrgs},
		{"Users", testUsers},
		{"UserLifecycle", testUserLifecycle},
		{"Scopes", testScopes},
		{"Credentials", testCredentials},
		{"CredentialNameUnique", testCredentialNameUnique},
		{"CredentialUpdateAbort", testCredentialUpdateAbort},
		{"CredentialUpdateConcurrent", testCredentialUpdateConcurrent},
		{"ScanCredentials", testScanCredentials},
		{"UsageLastUse", testUsageLastUse},
		{"CredentialLastUse", testCredentialLastUse},
		{"PruneUsageKeepsLastUse", testPruneUsageKeepsLastUse},
		{"ReadsDoNotFold", testReadsDoNotFold},
		{"ReadsDuringFold", testReadsDuringFold},
		{"RevokedTokens", testRevokedTokens},
		{"SigningKeys", testSigningKeys},
		{"Sessions", testSessions},
		{"SessionList", testSessionList},
		{"TOTP", testTOTP},
		{"RecoveryCodes", testRecoveryCodes},
		{"Passkeys", testPasskeys},
		{"Challenges", testChallenges},
		{"TwoFactorPolicy", testTwoFactorPolicy},
		{"CredentialLifecycleFields", testCredentialLifecycleFields},
		{"OrgVersions", testOrgVersions},
		{"ChangeLog", testChangeLog},
		{"ChangeLogConcurrent", testChangeLogConcurrent},
		{"RetireSigningKey", testRetireSigningKey},
		{"Resources", testResources},
		{"SSO", testSSO},
		{"Webhooks", testWebhooks},
		{"WebhookDeliveries", testWebhookDeliveries},
		{"AuditHook", testAuditHook},
		{"Usage", testUsage},
		{"Audit", testAudit},
		{"Transactions", testTransactions},
		{"Leaks", testLeaks},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, newStore(t))
		})
	}
}

// base is a fixed instant with microsecond precision, as the store keeps it.
var base = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func ctx(t *testing.T) context.Context { return t.Context() }

func mustOrg(t *testing.T, s store.Store, id, name string) store.Org {
	t.Helper()
	o := store.Org{ID: id, Name: name, Scopes: []string{"a:read", "b:write"}, CreatedAt: base}
	if err := s.CreateOrg(ctx(t), o); err != nil {
		t.Fatalf("CreateOrg(%s): %v", name, err)
	}
	return o
}

func testOrgs(t *testing.T, s store.Store) {
	o := mustOrg(t, s, "org_1", "Acme")
	mustOrg(t, s, "org_2", "Beta")
	if err := s.CreateOrg(ctx(t), store.Org{ID: "org_3", Name: "ACME", CreatedAt: base}); !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("CreateOrg with a name differing only in case: got %v, want ErrAlreadyExists", err)
	}
	got, err := s.GetOrg(ctx(t), "org_1")
	if err != nil || got.Name != "Acme" || !slices.Equal(got.Scopes, o.Scopes) || !got.CreatedAt.Equal(base) {
		t.Errorf("GetOrg = %+v, %v; want %+v", got, err, o)
	}
	if got, err := s.GetOrgByName(ctx(t), "aCmE"); err != nil || got.ID != "org_1" {
		t.Errorf("GetOrgByName(aCmE) = %+v, %v", got, err)
	}
	if _, err := s.GetOrg(ctx(t), "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetOrg(missing): got %v, want ErrNotFound", err)
	}
	list, err := s.ListOrgs(ctx(t))
	if err != nil || len(list) != 2 || list[0].Name != "Acme" || list[1].Name != "Beta" {
		t.Errorf("ListOrgs = %+v, %v", list, err)
	}
	up, err := s.UpdateOrg(ctx(t), "org_1", func(o store.Org) (store.Org, error) {
		o.Scopes = []string{"c:read"}
		return o, nil
	})
	if err != nil || !slices.Equal(up.Scopes, []string{"c:read"}) {
		t.Errorf("UpdateOrg = %+v, %v", up, err)
	}
	if got, _ := s.GetOrg(ctx(t), "org_1"); !slices.Equal(got.Scopes, []string{"c:read"}) {
		t.Errorf("scopes after UpdateOrg = %v", got.Scopes)
	}
	if _, err := s.UpdateOrg(ctx(t), "missing", func(o store.Org) (store.Org, error) { return o, nil }); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateOrg(missing): got %v, want ErrNotFound", err)
	}
}

func testUsers(t *testing.T, s store.Store) {
	mustOrg(t, s, "org_1", "Acme")
	admin := store.User{ID: "usr_1", Email: "Admin@Example.com", PasswordHash: "h1", Role: store.RoleAdmin, CreatedAt: base, PasswordChangedAt: base}
	cust := store.User{ID: "usr_2", Email: "ann@acme.test", PasswordHash: "h2", Role: store.RoleCustomer, OrgID: "org_1", CreatedAt: base, PasswordChangedAt: base}
	for _, u := range []store.User{admin, cust} {
		if err := s.CreateUser(ctx(t), u); err != nil {
			t.Fatalf("CreateUser(%s): %v", u.Email, err)
		}
	}
	dup := cust
	dup.ID, dup.Email = "usr_3", "ANN@ACME.TEST"
	if err := s.CreateUser(ctx(t), dup); !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("CreateUser with an email differing only in case: got %v, want ErrAlreadyExists", err)
	}
	bad := cust
	bad.ID, bad.Email, bad.OrgID = "usr_4", "x@y.test", "no-such-org"
	if err := s.CreateUser(ctx(t), bad); err == nil {
		t.Error("CreateUser with an unknown organisation succeeded; foreign keys are not enforced")
	}
	got, err := s.GetUserByEmail(ctx(t), "admin@example.COM")
	if err != nil || got != admin {
		t.Errorf("GetUserByEmail = %+v, %v; want %+v", got, err, admin)
	}
	if got, err := s.GetUser(ctx(t), "usr_2"); err != nil || got != cust {
		t.Errorf("GetUser = %+v, %v; want %+v", got, err, cust)
	}
	if _, err := s.GetUserByEmail(ctx(t), "nobody@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetUserByEmail(nobody): got %v, want ErrNotFound", err)
	}
	if n, err := s.CountAdmins(ctx(t)); err != nil || n != 1 {
		t.Errorf("CountAdmins = %d, %v; want 1", n, err)
	}
	later := base.Add(time.Hour)
	if _, err := s.UpdateUser(ctx(t), "usr_2", func(u store.User) (store.User, error) {
		u.PasswordHash, u.PasswordChangedAt = "h2b", later
		return u, nil
	}); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	if got, _ := s.GetUser(ctx(t), "usr_2"); got.PasswordHash != "h2b" || !got.PasswordChangedAt.Equal(later) {
		t.Errorf("after UpdateUser: %+v", got)
	}
	if list, err := s.ListUsers(ctx(t)); err != nil || len(list) != 2 {
		t.Errorf("ListUsers = %d users, %v; want 2", len(list), err)
	}
}

func testScopes(t *testing.T, s store.Store) {
	for _, sc := range []store.Scope{
		{Name: "sapient:introspect", Builtin: true, AdminOnly: true, CreatedAt: base},
		{Name: "shipments:read", Description: "Read shipments", CreatedAt: base},
	} {
		if err := s.CreateScope(ctx(t), sc); err != nil {
			t.Fatalf("CreateScope(%s): %v", sc.Name, err)
		}
	}
	if err := s.CreateScope(ctx(t), store.Scope{Name: "shipments:read", CreatedAt: base}); !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("CreateScope twice: got %v, want ErrAlreadyExists", err)
	}
	list, err := s.ListScopes(ctx(t))
	if err != nil || len(list) != 2 {
		t.Fatalf("ListScopes = %+v, %v", list, err)
	}
	if !list[0].Builtin || !list[0].AdminOnly || list[1].Description != "Read shipments" || list[1].Builtin {
		t.Errorf("ListScopes = %+v", list)
	}
}

func credential(id, org, name string) store.Credential {
	return store.Credential{
		ClientID: id, OrgID: org, Name: name, SecretHash: "hash-" + id,
		Scopes: []string{"a:read"}, CreatedAt: base, CreatedBy: "usr_1", UpdatedAt: base,
	}
}

func testCredentials(t *testing.T, s store.Store) {
	mustOrg(t, s, "org_1", "Acme")
	mustOrg(t, s, "org_2", "Beta")
	c1 := credential("c1", "org_1", "billing")
	c1.ExpiresAt = base.Add(24 * time.Hour)
	c2 := credential("c2", "org_1", "reports")
	c2.CreatedAt = base.Add(time.Minute)
	c3 := credential("c3", "org_2", "billing") // same name, other organisation: allowed
	for _, c := range []store.Credential{c1, c2, c3} {
		if _, err := s.CreateCredential(ctx(t), c); err != nil {
			t.Fatalf("CreateCredential(%s): %v", c.ClientID, err)
		}
	}
	if _, err := s.CreateCredential(ctx(t), credential("c4", "no-such-org", "x")); err == nil {
		t.Error("CreateCredential with an unknown organisation succeeded")
	}
	got, err := s.GetCredential(ctx(t), "c1")
	if err != nil || got.Name != "billing" || got.SecretHash != "hash-c1" || !got.ExpiresAt.Equal(c1.ExpiresAt) ||
		!got.LastUsedAt.IsZero() || !got.RevokedAt.IsZero() || !slices.Equal(got.Scopes, []string{"a:read"}) {
		t.Errorf("GetCredential = %+v, %v", got, err)
	}
	if _, err := s.GetCredential(ctx(t), "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetCredential(nope): got %v, want ErrNotFound", err)
	}
	list, err := s.ListCredentials(ctx(t), store.CredentialFilter{OrgID: "org_1"})
	if err != nil || len(list) != 2 || list[0].ClientID != "c2" || list[1].ClientID != "c1" {
		t.Errorf("ListCredentials(org_1) = %+v, %v; want c2, c1", list, err)
	}
	if all, err := s.ListCredentials(ctx(t), store.CredentialFilter{}); err != nil || len(all) != 3 {
		t.Errorf("ListCredentials(all) = %d, %v; want 3", len(all), err)
	}
	revokedAt := base.Add(2 * time.Hour)
	up, err := s.UpdateCredential(ctx(t), "c1", func(c store.Credential) (store.Credential, error) {
		c.RevokedAt, c.RevokedBy, c.UpdatedAt = revokedAt, "usr_9", revokedAt
		c.OrgID = "org_2" // must be ignored: a credential never changes organisation
		return c, nil
	})
	if err != nil || !up.RevokedAt.Equal(revokedAt) || up.OrgID != "org_1" {
		t.Errorf("UpdateCredential = %+v, %v", up, err)
	}
	got, _ = s.GetCredential(ctx(t), "c1")
	if !got.RevokedAt.Equal(revokedAt) || got.RevokedBy != "usr_9" || got.OrgID != "org_1" || got.Active(revokedAt) {
		t.Errorf("after revoke: %+v", got)
	}
	if !(up.Version > 0) || got.Version != up.Version {
		t.Errorf("versions: update returned %d, read %d; want the same, positive", up.Version, got.Version)
	}
	if _, err := s.UpdateCredential(ctx(t), "nope", func(c store.Credential) (store.Credential, error) { return c, nil }); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateCredential(nope): got %v, want ErrNotFound", err)
	}
}

func testCredentialNameUnique(t *testing.T, s store.Store) {
	mustOrg(t, s, "org_1", "Acme")
	if _, err := s.CreateCredential(ctx(t), credential("c1", "org_1", "Billing")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateCredential(ctx(t), credential("c2", "org_1", "billing")); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("duplicate active name: got %v, want ErrAlreadyExists", err)
	}
	if _, err := s.UpdateCredential(ctx(t), "c1", func(c store.Credential) (store.Credential, error) {
		c.RevokedAt, c.UpdatedAt = base.Add(time.Minute), base.Add(time.Minute)
		return c, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateCredential(ctx(t), credential("c2", "org_1", "billing")); err != nil {
		t.Errorf("name of a revoked credential reused: %v", err)
	}
	if _, err := s.CreateCredential(ctx(t), credential("c2", "org_1", "other")); !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("duplicate client ID: got %v, want ErrAlreadyExists", err)
	}
}

func testCredentialUpdateAbort(t *testing.T, s store.Store) {
	mustOrg(t, s, "org_1", "Acme")
	if _, err := s.CreateCredential(ctx(t), credential("c1", "org_1", "billing")); err != nil {
		t.Fatal(err)
	}
	sentinel := errors.New("no")
	_, err := s.UpdateCredential(ctx(t), "c1", func(c store.Credential) (store.Credential, error) {
		c.Name = "changed"
		return c, sentinel
	})
	if !errors.Is(err, sentinel) {
		t.Errorf("UpdateCredential error = %v, want the update's own error", err)
	}
	if got, _ := s.GetCredential(ctx(t), "c1"); got.Name != "billing" {
		t.Errorf("an aborted update changed the name to %q", got.Name)
	}
}

// testCredentialUpdateConcurrent checks that read-modify-write updates do
// not lose each other's changes.
func testCredentialUpdateConcurrent(t *testing.T, s store.Store) {
	mustOrg(t, s, "org_1", "Acme")
	if _, err := s.CreateCredential(ctx(t), credential("c1", "org_1", "billing")); err != nil {
		t.Fatal(err)
	}
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, err := s.UpdateCredential(ctx(t), "c1", func(c store.Credential) (store.Credential, error) {
				c.Scopes = append(c.Scopes, fmt.Sprintf("s%d", i))
				return c, nil
			})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent UpdateCredential: %v", err)
		}
	}
	if got, _ := s.GetCredential(ctx(t), "c1"); len(got.Scopes) != n+1 {
		t.Errorf("after %d concurrent updates the credential has %d scopes, want %d: updates were lost", n, len(got.Scopes), n+1)
	}
}

func testRevokedTokens(t *testing.T, s store.Store) {
	r1 := store.RevokedToken{JTI: "j1", ClientID: "c1", ExpiresAt: base.Add(time.Hour), RevokedAt: base}
	r2 := store.RevokedToken{JTI: "j2", ClientID: "c1", ExpiresAt: base.Add(3 * time.Hour), RevokedAt: base.Add(time.Minute)}
	for _, r := range []store.RevokedToken{r1, r2, r1} {
		if err := s.RevokeToken(ctx(t), r); err != nil {
			t.Fatalf("RevokeToken(%s): %v", r.JTI, err)
		}
	}
	list, err := s.ListRevokedTokens(ctx(t), base.Add(2*time.Hour))
	if err != nil || len(list) != 1 || list[0] != r2 {
		t.Errorf("ListRevokedTokens = %+v, %v; want [%+v]", list, err, r2)
	}
	if got, err := s.GetRevokedToken(ctx(t), "j1"); err != nil || got != r1 {
		t.Errorf("GetRevokedToken(j1) = %+v, %v; want %+v", got, err, r1)
	}
	if _, err := s.GetRevokedToken(ctx(t), "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetRevokedToken(nope): got %v, want ErrNotFound", err)
	}
	n, err := s.PruneRevokedTokens(ctx(t), base.Add(2*time.Hour))
	if err != nil || n != 1 {
		t.Errorf("PruneRevokedTokens = %d, %v; want 1", n, err)
	}
	if list, _ := s.ListRevokedTokens(ctx(t), time.Time{}); len(list) != 1 || list[0].JTI != "j2" {
		t.Errorf("after prune: %+v", list)
	}
}

func testSigningKeys(t *testing.T, s store.Store) {
	k1 := store.SigningKey{ID: "k1", Algorithm: "ES256", PrivateKey: []byte("enc1"), PublicKey: []byte(`{"kty":"EC"}`), CreatedAt: base, ActivatesAt: base}
	k2 := store.SigningKey{ID: "k2", Algorithm: "ES256", PrivateKey: []byte("enc2"), PublicKey: []byte(`{"kty":"EC"}`), CreatedAt: base.Add(time.Hour), ActivatesAt: base.Add(2 * time.Hour)}
	for _, k := range []store.SigningKey{k2, k1} {
		if err := s.CreateSigningKey(ctx(t), k); err != nil {
			t.Fatal(err)
		}
	}
	list, err := s.ListSigningKeys(ctx(t))
	if err != nil || len(list) != 2 || list[0].ID != "k1" || list[1].ID != "k2" ||
		string(list[1].PrivateKey) != "enc2" || !list[1].ActivatesAt.Equal(k2.ActivatesAt) {
		t.Errorf("ListSigningKeys = %+v, %v", list, err)
	}
	if err := s.DeleteSigningKey(ctx(t), "k1"); err != nil {
		t.Fatal(err)
	}
	if list, _ := s.ListSigningKeys(ctx(t)); len(list) != 1 {
		t.Errorf("after delete: %d keys", len(list))
	}
}

func testSessions(t *testing.T, s store.Store) {
	mustOrg(t, s, "org_1", "Acme")
	u := store.User{ID: "usr_1", Email: "a@b.test", PasswordHash: "h", Role: store.RoleCustomer, OrgID: "org_1", CreatedAt: base, PasswordChangedAt: base}
	if err := s.CreateUser(ctx(t), u); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"s1", "s2", "s3"} {
		if err := s.CreateSession(ctx(t), store.Session{ID: id, UserID: "usr_1", CreatedAt: base, LastSeenAt: base, ExpiresAt: base.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	seen := base.Add(time.Minute)
	if err := s.TouchSession(ctx(t), "s1", seen); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetSession(ctx(t), "s1"); err != nil || !got.LastSeenAt.Equal(seen) || got.UserID != "usr_1" {
		t.Errorf("GetSession = %+v, %v", got, err)
	}
	if err := s.DeleteUserSessions(ctx(t), "usr_1", "s1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetSession(ctx(t), "s2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("s2 after DeleteUserSessions: %v, want ErrNotFound", err)
	}
	if _, err := s.GetSession(ctx(t), "s1"); err != nil {
		t.Errorf("kept session s1: %v", err)
	}
	// s1 was seen at base+1m and expires at base+1h; s4 idles, s5 expired.
	for _, se := range []store.Session{
		{ID: "s4", UserID: "usr_1", CreatedAt: base, LastSeenAt: base, ExpiresAt: base.Add(time.Hour)},
		{ID: "s5", UserID: "usr_1", CreatedAt: base, LastSeenAt: base.Add(50 * time.Minute), ExpiresAt: base.Add(30 * time.Minute)},
	} {
		if err := s.CreateSession(ctx(t), se); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.DeleteExpiredSessions(ctx(t), base.Add(40*time.Minute), base.Add(30*time.Second)); err != nil || n != 2 {
		t.Errorf("DeleteExpiredSessions = %d, %v; want 2 (idle s4, expired s5)", n, err)
	}
	if _, err := s.GetSession(ctx(t), "s1"); err != nil {
		t.Errorf("a live session was deleted: %v", err)
	}
	if err := s.DeleteSession(ctx(t), "s1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetSession(ctx(t), "s1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("s1 after DeleteSession: %v, want ErrNotFound", err)
	}
}
