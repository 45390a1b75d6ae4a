package oauth_test

import (
	"net/url"
	"strings"
	"testing"

	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store/storetest"
)

// TestTokenBadQueryString checks that a query string that cannot be parsed
// is blamed, not the body that carries the grant (issue 19), and that a
// query string that parses changes nothing.
func TestTokenBadQueryString(t *testing.T) {
	env := servertest.New(t, storetest.Backends()[0])
	org := env.Org(t, "Acme")
	c := env.Credential(t, org.ID, "billing", nil)
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {c.Credential.ClientID}, "client_secret": {c.Secret}}
	for _, tc := range []struct{ query, want string }{
		{"x=%zz", `invalid URL escape "%zz"`},
		{"a=1;b=2", "semicolon"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			resp, reply := post(t, env, "/connect/token?"+tc.query, form, nil)
			if resp.StatusCode != 400 || reply.Error != "invalid_request" {
				t.Fatalf("%d %+v, want 400 invalid_request", resp.StatusCode, reply)
			}
			if !strings.Contains(reply.ErrorDescription, "query string") || !strings.Contains(reply.ErrorDescription, tc.want) ||
				strings.Contains(reply.ErrorDescription, "body is not") {
				t.Errorf("error_description %q does not blame the query string (%s)", reply.ErrorDescription, tc.want)
			}
		})
	}
	if resp, reply := post(t, env, "/connect/token?tenant=acme", form, nil); resp.StatusCode != 200 || reply.AccessToken == "" {
		t.Fatalf("a valid query string: %d %+v", resp.StatusCode, reply)
	}
}
