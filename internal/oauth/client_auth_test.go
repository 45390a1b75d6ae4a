package oauth_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/scope"
	"sapient.dev/sapient/internal/server"
	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store/storetest"
)

// TestStrictClientAuthentication: RFC 6749 §2.3 allows one client
// authentication method per request, and §3.3 a scope list separated by
// spaces (%x20) of NQCHAR tokens. A malformed Authorization header is not
// ignored in favour of the body, and other whitespace is not a separator.
func TestStrictClientAuthentication(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		env := servertest.New(t, b)
		acme := env.Org(t, "Acme")
		c := env.Credential(t, acme.ID, "billing", []string{scope.CredentialsRead, scope.UsageRead})
		id, secret := c.Credential.ClientID, c.Secret
		inBody := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}
		withScope := func(s string) url.Values {
			return url.Values{"grant_type": {"client_credentials"}, "scope": {s}}
		}
		header := func(vs ...string) http.Header { return http.Header{"Authorization": vs} }
		b64 := base64.StdEncoding.EncodeToString
		tests := []struct {
			name   string
			form   url.Values
			header http.Header
			status int
			code   string
			scope  string
		}{
			{"body credentials alone", inBody, nil, 200, "", "credentials:read usage:read"},
			{"malformed Basic beside body credentials", inBody, header("Basic %%%not-base64"), 400, "invalid_request", ""},
			{"Basic without colon beside body credentials", inBody, header("Basic " + b64([]byte(id))), 400, "invalid_request", ""},
			{"Basic with empty ID beside body credentials", inBody, header("Basic " + b64([]byte(":"+secret))), 400, "invalid_request", ""},
			{"Bearer beside body credentials", inBody, header("Bearer x"), 400, "invalid_request", ""},
			{"two Authorization headers", withScope(""), http.Header{"Authorization": {basic(id, secret).Get("Authorization"), basic(id, secret).Get("Authorization")}}, 400, "invalid_request", ""},
			{"malformed Basic alone", withScope(""), header("Basic %%%"), 401, "invalid_client", ""},
			{"scope separated by a space", withScope("usage:read credentials:read"), basic(id, secret), 200, "", "credentials:read usage:read"},
			{"scope with extra spaces", withScope(" usage:read  credentials:read "), basic(id, secret), 200, "", "credentials:read usage:read"},
			{"scope separated by a tab", withScope("usage:read\tcredentials:read"), basic(id, secret), 400, "invalid_request", ""},
			{"scope separated by a newline", withScope("usage:read\ncredentials:read"), basic(id, secret), 400, "invalid_request", ""},
			{"scope separated by CR LF", withScope("usage:read\r\ncredentials:read"), basic(id, secret), 400, "invalid_request", ""},
			{"scope separated by a no-break space", withScope("usage:read\u00a0credentials:read"), basic(id, secret), 400, "invalid_request", ""},
			{"scope separated by an ideographic space", withScope("usage:read\u3000credentials:read"), basic(id, secret), 400, "invalid_request", ""},
			{"scope ending in a tab", withScope("usage:read\t"), basic(id, secret), 400, "invalid_request", ""},
			{"scope with a quote", withScope(`usage:read "x"`), basic(id, secret), 400, "invalid_request", ""},
			{"scope with a backslash", withScope(`usage\read`), basic(id, secret), 400, "invalid_request", ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				resp, got := post(t, env, "/connect/token", tt.form, tt.header)
				if resp.StatusCode != tt.status || got.Error != tt.code {
					t.Fatalf("got %d %q (%s), want %d %q", resp.StatusCode, got.Error, got.ErrorDescription, tt.status, tt.code)
				}
				if tt.status == 200 && got.Scope != tt.scope {
					t.Errorf("scope %q, want %q", got.Scope, tt.scope)
				}
			})
		}
		// The same rule holds where a client authenticates to revoke.
		tok := getToken(t, env, c)
		if resp, got := post(t, env, "/connect/revocation", url.Values{"token": {tok}, "client_id": {id}, "client_secret": {secret}}, header("Basic %%%")); resp.StatusCode != 400 || got.Error != "invalid_request" {
			t.Errorf("revocation with a malformed Basic beside body credentials: %d %+v", resp.StatusCode, got)
		}
		if resp, _ := me(t, env, tok); resp.StatusCode != 200 {
			t.Errorf("the refused revocation revoked the token: /me %d", resp.StatusCode)
		}
	})
}

// TestAllowListAtEveryDoor: a credential limited to 10.0.0.0/8 is refused
// from elsewhere at the token, introspection and revocation endpoints
// alike, with one answer whether its secret is right, wrong or mistyped,
// so that no endpoint tells a guesser outside the network that it found
// the secret. From inside the network every endpoint serves it. Once
// revoked it is invalid_client from anywhere.
func TestAllowListAtEveryDoor(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		// The test's requests come from 127.0.0.1, a trusted proxy: with
		// X-Forwarded-For they come from inside 10.0.0.0/8, without it
		// from 127.0.0.1, outside.
		env := servertest.New(t, b, func(c *server.Config) {
			c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
		})
		acme := env.Org(t, "Acme")
		limited, err := env.Server.Credentials.Create(t.Context(), access.CLI, credential.CreateRequest{
			OrgID: acme.ID, Name: "gateway", Scopes: []string{scope.Introspect, scope.UsageRead}, AllowedCIDRs: []string{"10.0.0.0/8"},
		})
		if err != nil {
			t.Fatal(err)
		}
		other := env.Credential(t, acme.ID, "other", nil)
		id := limited.Credential.ClientID
		inside := http.Header{"X-Forwarded-For": {"10.1.2.3"}}
		withInside := func(h http.Header) http.Header {
			h = h.Clone()
			h["X-Forwarded-For"] = inside["X-Forwarded-For"]
			return h
		}
		resp, got := post(t, env, "/connect/token", url.Values{"grant_type": {"client_credentials"}}, withInside(basic(id, limited.Secret)))
		if resp.StatusCode != 200 {
			t.Fatalf("token from inside the network: %d %+v", resp.StatusCode, got)
		}
		tok := got.AccessToken

		secrets := map[string]string{"right": limited.Secret, "wrong": other.Secret, "mistyped": mistype(limited.Secret)}
		doors := map[string]url.Values{
			"/connect/token":      {"grant_type": {"client_credentials"}},
			"/connect/introspect": {"token": {tok}},
			"/connect/revocation": {"token": {tok}},
		}
		for path, form := range doors {
			for name, secret := range secrets {
				t.Run(path+" "+name+" secret", func(t *testing.T) {
					resp, got := post(t, env, path, form, basic(id, secret))
					if resp.StatusCode != 400 || got.Error != "unauthorized_client" || got.ErrorDescription != "This credential may not be used from this address." {
						t.Fatalf("from outside: %d %q (%s), want 400 unauthorized_client", resp.StatusCode, got.Error, got.ErrorDescription)
					}
				})
			}
		}
		// Nothing was revoked from outside; from inside, introspection and
		// revocation serve the credential.
		req, _ := http.NewRequest(http.MethodGet, env.URL+"/api/v1/me", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("X-Forwarded-For", "10.1.2.3")
		if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
			t.Fatalf("/me from inside after the refused revocations: %v %v", resp.StatusCode, err)
		}
		var in introspection
		if resp, _ := postJSON(t, env, "/connect/introspect", url.Values{"token": {tok}}, withInside(basic(id, limited.Secret)), &in); resp.StatusCode != 200 || !in.Active {
			t.Errorf("introspection from inside: %d %+v", resp.StatusCode, in)
		}
		if resp, got := post(t, env, "/connect/revocation", url.Values{"token": {tok}}, withInside(basic(id, limited.Secret))); resp.StatusCode != 200 {
			t.Errorf("revocation from inside: %d %+v", resp.StatusCode, got)
		}
		// A revoked credential is invalid_client from anywhere, as an
		// unknown one is.
		if _, err := env.Server.Credentials.Revoke(t.Context(), access.CLI, id); err != nil {
			t.Fatal(err)
		}
		for name, h := range map[string]http.Header{"outside": basic(id, limited.Secret), "inside": withInside(basic(id, limited.Secret))} {
			if resp, got := post(t, env, "/connect/token", url.Values{"grant_type": {"client_credentials"}}, h); resp.StatusCode != 401 || got.Error != "invalid_client" {
				t.Errorf("revoked credential from %s: %d %+v, want 401 invalid_client", name, resp.StatusCode, got)
			}
		}
	})
}

// mistype changes the last character of a secret to the next one of its
// alphabet: the typo its checksum exists to catch.
func mistype(secret string) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	last := secret[len(secret)-1]
	return secret[:len(secret)-1] + string(alphabet[(strings.IndexByte(alphabet, last)+1)%len(alphabet)])
}

// postJSON sends a form to path and decodes the JSON answer into out.
func postJSON(t *testing.T, env *servertest.Env, path string, form url.Values, header http.Header, out any) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, env.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return resp, json.NewDecoder(resp.Body).Decode(out)
}
