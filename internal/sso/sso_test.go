package sso

import (
	"errors"
	"slices"
	"testing"
)

// TestCheck: a new provider's fields are normalised, and each bad one is
// refused with the field it names.
func TestCheck(t *testing.T) {
	good := AddRequest{Name: " Acme IdP ", Issuer: "https://idp.acme.com/", ClientID: "c", ClientSecret: "s",
		OrgID: "org_1", Domains: []string{"Acme.COM", "@acme.test", ""}, AdminEmails: []string{"Root@acme.com"}}
	p, err := (&Service{}).check(good)
	if err != nil || p.Name != "Acme IdP" || !slices.Equal(p.Domains, []string{"acme.com", "acme.test"}) ||
		!slices.Equal(p.AdminEmails, []string{"root@acme.com"}) || p.OrgID != "org_1" {
		t.Fatalf("check(good) = %+v, %v", p, err)
	}
	tests := []struct {
		name  string
		edit  func(*AddRequest)
		field string
	}{
		{"no name", func(r *AddRequest) { r.Name = " " }, "name"},
		{"http elsewhere", func(r *AddRequest) { r.Issuer = "http://idp.acme.com" }, "issuer"},
		{"no host", func(r *AddRequest) { r.Issuer = "https:///x" }, "issuer"},
		{"a query", func(r *AddRequest) { r.Issuer = "https://idp.acme.com/?x=1" }, "issuer"},
		{"no client ID", func(r *AddRequest) { r.ClientID = "" }, "client_id"},
		{"no secret", func(r *AddRequest) { r.ClientSecret = "" }, "client_secret"},
		{"a domain that is not one", func(r *AddRequest) { r.Domains = []string{"acme"} }, "domains"},
		{"a domain with a space", func(r *AddRequest) { r.Domains = []string{"ac me.com"} }, "domains"},
		{"an Admin that is not an email", func(r *AddRequest) { r.AdminEmails = []string{"root"} }, "admin_emails"},
		{"domains without an organisation", func(r *AddRequest) { r.OrgID = "" }, "org"},
		{"nobody vouched for", func(r *AddRequest) { r.Domains, r.AdminEmails = nil, nil }, "domains"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := good
			tt.edit(&r)
			_, err := (&Service{}).check(r)
			var verr *ValidationError
			if !errors.As(err, &verr) || verr.Field != tt.field {
				t.Fatalf("check = %v, want a ValidationError of %s", err, tt.field)
			}
		})
	}
	if !validIssuer("http://127.0.0.1:8080/oidc") || !validIssuer("http://localhost:9000") {
		t.Error("an http issuer on this machine is refused")
	}
}
