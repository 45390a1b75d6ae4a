package storetest

import (
	"errors"
	"slices"
	"testing"

	"sapient.dev/sapient/internal/store"
)

// testSSO: single sign-on providers are kept whole, listed by name, refuse
// a duplicate ID and an unknown organisation, and go away when deleted.
func testSSO(t *testing.T, s store.Store) {
	acme := mustOrg(t, s, "org_sso", "Acme SSO")
	p := store.SSOProvider{ID: "sso_b", Name: "Okta", Issuer: "https://idp.example.com", ClientID: "client",
		ClientSecret: "sealed", OrgID: acme.ID, Domains: []string{"acme.test", "acme.example"},
		AdminEmails: []string{"root@acme.test"}, CreatedAt: base}
	if err := s.CreateSSOProvider(ctx(t), p); err != nil {
		t.Fatal(err)
	}
	admins := store.SSOProvider{ID: "sso_a", Name: "Corporate", Issuer: "https://login.example.com", ClientID: "c2",
		ClientSecret: "sealed2", AdminEmails: []string{"ops@example.com"}, CreatedAt: base}
	if err := s.CreateSSOProvider(ctx(t), admins); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSSOProvider(ctx(t), p); !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("same ID again: %v, want ErrAlreadyExists", err)
	}
	if err := s.CreateSSOProvider(ctx(t), store.SSOProvider{ID: "sso_c", Name: "x", OrgID: "org_none", CreatedAt: base}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown organisation: %v, want ErrNotFound", err)
	}
	got, err := s.GetSSOProvider(ctx(t), "sso_b")
	if err != nil || got.Name != p.Name || got.Issuer != p.Issuer || got.ClientSecret != p.ClientSecret || got.OrgID != acme.ID ||
		!slices.Equal(got.Domains, p.Domains) || !slices.Equal(got.AdminEmails, p.AdminEmails) || !got.CreatedAt.Equal(base) {
		t.Errorf("GetSSOProvider = %+v, %v", got, err)
	}
	list, err := s.ListSSOProviders(ctx(t))
	if err != nil || len(list) != 2 || list[0].ID != "sso_a" || list[1].ID != "sso_b" || list[0].OrgID != "" {
		t.Errorf("ListSSOProviders = %+v, %v", list, err)
	}
	if err := s.DeleteSSOProvider(ctx(t), "sso_a"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSSOProvider(ctx(t), "sso_a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleting again: %v, want ErrNotFound", err)
	}
	if _, err := s.GetSSOProvider(ctx(t), "sso_a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted provider: %v, want ErrNotFound", err)
	}
}
