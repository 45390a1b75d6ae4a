package oauth_test

import (
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"testing"
	"time"

	"sapient.dev/sapient/internal/server"
	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store/storetest"
)

// TestFailureBudgetPerAddress: failed client authentications (unknown
// client IDs, wrong or mistyped secrets, malformed credentials) spend a
// budget per client address, 100 in a row and 20 a second after that,
// shared by the token, introspection and revocation endpoints. Once it is
// spent the address is answered 429 with Retry-After before anything is
// looked up, even with the right secret; other addresses and successful
// requests are not slowed down.
func TestFailureBudgetPerAddress(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		clk := servertest.NewClock()
		env := servertest.New(t, b, servertest.WithClock(clk), func(c *server.Config) {
			c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
			c.TokenRateLimit = -1
		})
		acme := env.Org(t, "Acme")
		c := env.Credential(t, acme.ID, "billing", nil)
		id, secret := c.Credential.ClientID, c.Secret
		from := func(addr string, h http.Header) http.Header {
			h = h.Clone()
			if h == nil {
				h = http.Header{}
			}
			h.Set("X-Forwarded-For", addr)
			return h
		}
		cc := url.Values{"grant_type": {"client_credentials"}}
		const attacker, neighbour = "198.51.100.7", "203.0.113.9"

		// 100 failures of every kind, at the three endpoints.
		failures := []struct {
			path   string
			form   url.Values
			header http.Header
		}{
			{"/connect/token", cc, basic("sapci_unknown", secret)},
			{"/connect/token", cc, basic(id, mistype(secret))},
			{"/connect/token", cc, basic(id, "sapsk_not-a-secret")},
			{"/connect/token", cc, http.Header{"Authorization": {"Basic %%%"}}},
			{"/connect/introspect", url.Values{"token": {"x"}}, basic("sapci_unknown", secret)},
			{"/connect/revocation", url.Values{"token": {"x"}}, basic(id, mistype(secret))},
		}
		for i := range 100 {
			f := failures[i%len(failures)]
			if resp, got := post(t, env, f.path, f.form, from(attacker, f.header)); resp.StatusCode == http.StatusTooManyRequests {
				t.Fatalf("failure %d (%s) refused for the budget: %+v", i+1, f.path, got)
			}
		}
		// Spent: the right secret from there waits too, at every endpoint.
		for _, path := range []string{"/connect/token", "/connect/introspect", "/connect/revocation"} {
			resp, got := post(t, env, path, url.Values{"grant_type": {"client_credentials"}, "token": {"x"}}, from(attacker, basic(id, secret)))
			if resp.StatusCode != http.StatusTooManyRequests || got.Error != "too_many_requests" || resp.Header.Get("Retry-After") != "1" ||
				resp.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("%s after 100 failures: %d %+v Retry-After %q", path, resp.StatusCode, got, resp.Header.Get("Retry-After"))
			}
		}
		// Another address is not affected, and its successes, however
		// many, spend nothing.
		for i := range 150 {
			if resp, got := post(t, env, "/connect/token", cc, from(neighbour, basic(id, secret))); resp.StatusCode != 200 {
				t.Fatalf("request %d from another address: %d %+v", i+1, resp.StatusCode, got)
			}
		}
		// A second later the address has 20 failures again; a success
		// between them costs nothing.
		clk.Add(time.Second)
		if resp, got := post(t, env, "/connect/token", cc, from(attacker, basic(id, secret))); resp.StatusCode != 200 {
			t.Fatalf("right secret after the wait: %d %+v", resp.StatusCode, got)
		}
		for i := range 20 {
			if resp, got := post(t, env, "/connect/token", cc, from(attacker, basic("sapci_unknown"+strconv.Itoa(i), secret))); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("failure %d after the wait: %d %+v", i+1, resp.StatusCode, got)
			}
		}
		if resp, _ := post(t, env, "/connect/token", cc, from(attacker, basic("sapci_unknown", secret))); resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("21st failure after a second: %d, want 429", resp.StatusCode)
		}
		// The neighbour still needs no wait.
		if resp, _ := post(t, env, "/connect/token", cc, from(neighbour, basic(id, secret))); resp.StatusCode != 200 {
			t.Fatalf("other address: %d", resp.StatusCode)
		}
	})
}
