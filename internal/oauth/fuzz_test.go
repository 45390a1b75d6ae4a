package oauth_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/server"
	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store/storetest"
)

// rfc6749Errors are the error codes of RFC 6749 §5.2, the only ones the
// token endpoint may answer with.
var rfc6749Errors = []string{
	"invalid_request", "invalid_client", "invalid_grant",
	"unauthorized_client", "unsupported_grant_type", "invalid_scope",
}

// FuzzTokenRequest sends arbitrary token requests to a whole instance that
// holds one real credential. The seeds (testdata/fuzz/FuzzTokenRequest)
// name that credential by placeholders, replaced before each request:
// {client_id}, {secret}, and {basic} for the client_secret_basic value of
// the pair (RFC 6749 §2.3.1).
//
// Whatever the input: no 5xx and no panic; the answer is JSON with
// Cache-Control: no-store; it holds an access token only when the request
// really carried the credential's secret, and otherwise an RFC 6749 §5.2
// error; invalid_client is 401 with WWW-Authenticate.
func FuzzTokenRequest(f *testing.F) {
	// No rate limit and no budget of failures per address: a fuzzer sends
	// the valid request far more often than 100 times a second, and
	// invalid ones from one address, and the answer must not depend on
	// timing.
	env := servertest.New(f, storetest.Backends()[0], func(c *server.Config) { c.TokenRateLimit, c.ClientFailureLimit = -1, -1 })
	o := env.Org(f, "Fuzz")
	c := env.Credential(f, o.ID, "fuzz", []string{"credentials:read", "usage:read"})
	id, secret := c.Credential.ClientID, c.Secret
	basic := base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id) + ":" + url.QueryEscape(secret)))
	expand := strings.NewReplacer("{client_id}", id, "{secret}", secret, "{basic}", basic).Replace
	handler := env.Server.Handler()

	f.Fuzz(func(t *testing.T, authorization, body, contentType string) {
		authorization, body, contentType = expand(authorization), expand(body), expand(contentType)
		req := httptest.NewRequest(http.MethodPost, "/connect/token", strings.NewReader(body))
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		res := rec.Result()

		if res.StatusCode >= 500 {
			t.Fatalf("status %d: %s\n%s", res.StatusCode, rec.Body, env.Logs)
		}
		if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
			t.Fatalf("Cache-Control %q, want no-store (status %d)", cc, res.StatusCode)
		}
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("Content-Type %q", ct)
		}
		var answer struct {
			AccessToken *string `json:"access_token"`
			TokenType   string  `json:"token_type"`
			Scope       string  `json:"scope"`
			Error       *string `json:"error"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil {
			t.Fatalf("answer is not JSON: %v: %q", err, rec.Body)
		}
		if (answer.AccessToken == nil) == (answer.Error == nil) {
			t.Fatalf("answer must hold exactly one of access_token and error: %s", rec.Body)
		}
		if res.StatusCode == http.StatusUnauthorized && res.Header.Get("WWW-Authenticate") == "" {
			t.Fatal("401 without WWW-Authenticate")
		}

		if answer.Error != nil {
			code := *answer.Error
			if !slices.Contains(rfc6749Errors, code) {
				t.Fatalf("error %q is not an RFC 6749 §5.2 code", code)
			}
			switch want := http.StatusBadRequest; {
			case code == "invalid_client" && res.StatusCode != http.StatusUnauthorized:
				t.Fatalf("invalid_client with status %d, want 401", res.StatusCode)
			case code != "invalid_client" && res.StatusCode != want:
				t.Fatalf("%s with status %d, want %d", code, res.StatusCode, want)
			}
			if canonical(authorization, body, contentType, basic) {
				t.Fatalf("the plain valid request was refused: %s", rec.Body)
			}
			return
		}

		// A token: the request must have carried the real secret, by
		// exactly one method, and the token must be for this credential.
		if res.StatusCode != http.StatusOK || answer.TokenType != "Bearer" || *answer.AccessToken == "" {
			t.Fatalf("token answer %d %s", res.StatusCode, rec.Body)
		}
		if !carriesCredential(authorization, body, id, secret) {
			t.Fatalf("token issued for a request without the credential: Authorization %q, body %q", authorization, body)
		}
		v, err := env.Server.Verifier.Verify(t.Context(), *answer.AccessToken)
		if err != nil {
			t.Fatalf("issued token does not verify: %v", err)
		}
		if v.Claims.ClientID != id {
			t.Fatalf("token for %s, want %s", v.Claims.ClientID, id)
		}
		for _, s := range credential.ParseScopes(answer.Scope) {
			if !slices.Contains(c.Credential.Scopes, s) {
				t.Fatalf("token grants %q, which the credential does not hold", s)
			}
		}
		if v.Claims.Scope != answer.Scope {
			t.Fatalf("token scope %q, answer says %q", v.Claims.Scope, answer.Scope)
		}
	})
}

// canonical reports whether the request is the plain, valid
// client_secret_basic request, which must always succeed.
func canonical(authorization, body, contentType, basic string) bool {
	return authorization == "Basic "+basic && body == "grant_type=client_credentials" &&
		contentType == "application/x-www-form-urlencoded"
}

// carriesCredential reports whether the request presents the client ID and
// secret, in the Authorization header (client_secret_basic) or in the body
// (client_secret_post).
func carriesCredential(authorization, body, id, secret string) bool {
	if len(authorization) > 6 && strings.EqualFold(authorization[:6], "basic ") {
		if raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(authorization[6:])); err == nil {
			if u, p, ok := strings.Cut(string(raw), ":"); ok {
				u, _ = url.QueryUnescape(u)
				p, _ = url.QueryUnescape(p)
				if u == id && p == secret {
					return true
				}
			}
		}
	}
	form, _ := url.ParseQuery(body)
	return form.Get("client_id") == id && form.Get("client_secret") == secret
}
