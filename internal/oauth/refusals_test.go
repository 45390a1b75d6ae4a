package oauth_test

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/org"
	"sapient.dev/sapient/internal/scope"
	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
)

// TestMistypedSecretCounted: a secret whose checksum is wrong (the most
// common client mistake) is refused before it is hashed, and still counts
// as a refused token request of the credential its client ID names, like
// a wrong secret does; an unknown client ID counts nowhere.
func TestMistypedSecretCounted(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		env := servertest.New(t, b)
		acme := env.Org(t, "Acme")
		c := env.Credential(t, acme.ID, "billing", nil)
		other := env.Credential(t, acme.ID, "other", nil)
		id := c.Credential.ClientID
		cc := url.Values{"grant_type": {"client_credentials"}}
		for _, secret := range []string{mistype(c.Secret), other.Secret, c.Secret[:len(c.Secret)-3]} {
			if resp, got := post(t, env, "/connect/token", cc, basic(id, secret)); resp.StatusCode != 401 || got.Error != "invalid_client" {
				t.Fatalf("bad secret: %d %+v", resp.StatusCode, got)
			}
		}
		post(t, env, "/connect/token", cc, basic("sapci_unknown", mistype(c.Secret)))
		getToken(t, env, c)
		if err := env.Server.Usage.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		list, err := env.Store.ListUsage(t.Context(), store.UsageFilter{OrgID: acme.ID})
		if err != nil {
			t.Fatal(err)
		}
		var issued, refused int64
		for _, u := range list {
			if u.ClientID != id {
				t.Errorf("usage counted for %s: %+v", u.ClientID, u)
			}
			issued += u.TokensIssued
			refused += u.TokensRefused
		}
		if issued != 1 || refused != 3 {
			t.Errorf("issued %d, refused %d; want 1 and 3 (mistyped, wrong and truncated secrets)", issued, refused)
		}
	})
}

// TestIntrospectionScopeNow: introspection answers what a token may do
// now, as /api/v1/me does: a scope withdrawn from the organisation after
// the token was issued is not in the answer.
func TestIntrospectionScopeNow(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		env := servertest.New(t, b)
		acme := env.Org(t, "Acme")
		gateway := env.Credential(t, acme.ID, "gateway", []string{scope.Introspect})
		app := env.Credential(t, acme.ID, "app", []string{scope.CredentialsRead, scope.UsageRead})
		tok := getToken(t, env, app)
		if status, got := introspect(t, env, gateway, tok); status != 200 || !got.Active || got.Scope != "credentials:read usage:read" {
			t.Fatalf("before: %d %+v", status, got)
		}
		o, err := org.Withdraw(t.Context(), env.Store, access.CLI, acme.ID, []string{scope.UsageRead}, env.Server.Credentials.Now)
		if err != nil {
			t.Fatal(err)
		}
		env.Server.Orgs.Put(o) // as the poll would, without waiting for it
		status, got := introspect(t, env, gateway, tok)
		if status != 200 || !got.Active || got.Scope != "credentials:read" {
			t.Errorf("after usage:read was withdrawn: %d %+v, want scope credentials:read", status, got)
		}
		_, body := me(t, env, tok)
		var scopes []string
		for _, s := range body["scopes"].([]any) {
			scopes = append(scopes, s.(string))
		}
		if !slices.Equal(scopes, strings.Fields(got.Scope)) {
			t.Errorf("introspection says %q, /api/v1/me %q", got.Scope, scopes)
		}
	})
}
