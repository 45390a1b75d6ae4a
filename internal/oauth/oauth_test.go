package oauth_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/scope"
	"sapient.dev/sapient/internal/server"
	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store/storetest"
)

type tokenReply struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int    `json:"expires_in"`
	Scope            string `json:"scope"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// post sends a form to path and decodes the JSON answer.
func post(t *testing.T, env *servertest.Env, path string, form url.Values, header http.Header) (*http.Response, tokenReply) {
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
	var out tokenReply
	body, _ := io.ReadAll(resp.Body)
	if len(body) > 0 {
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatalf("%s answered %d with non-JSON %q", path, resp.StatusCode, body)
		}
	}
	return resp, out
}

func basic(id, secret string) http.Header {
	raw := url.QueryEscape(id) + ":" + url.QueryEscape(secret)
	return http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(raw))}}
}

func TestTokenEndpoint(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		clk := servertest.NewClock()
		env := servertest.New(t, b, servertest.WithClock(clk))
		acme := env.Org(t, "Acme")
		good := env.Credential(t, acme.ID, "billing", []string{scope.CredentialsRead, scope.UsageRead})
		revoked := env.Credential(t, acme.ID, "old", nil)
		if _, err := env.Server.Credentials.Revoke(t.Context(), access.CLI, revoked.Credential.ClientID); err != nil {
			t.Fatal(err)
		}
		expiring, err := env.Server.Credentials.Create(t.Context(), access.CLI, credential.CreateRequest{
			OrgID: acme.ID, Name: "expiring", ExpiresAt: clk.Now().Add(time.Minute),
		})
		if err != nil {
			t.Fatal(err)
		}
		id, secret := good.Credential.ClientID, good.Secret
		mistyped := secret[:len(secret)-1] + string("abcdefghijklmnopqrstuvwxyz234567"[(strings.IndexByte("abcdefghijklmnopqrstuvwxyz234567", secret[len(secret)-1])+1)%32])
		otherValid := expiring.Secret // a well-formed secret of another credential

		cc := url.Values{"grant_type": {"client_credentials"}}
		with := func(extra url.Values) url.Values {
			v := url.Values{}
			for k, vs := range cc {
				v[k] = vs
			}
			for k, vs := range extra {
				v[k] = vs
			}
			return v
		}
		tests := []struct {
			name      string
			method    string
			ctype     string
			body      string
			form      url.Values
			header    http.Header
			status    int
			errorCode string
			scope     string
		}{
			{name: "basic", form: cc, header: basic(id, secret), status: 200, scope: "credentials:read usage:read"},
			{name: "post", form: with(url.Values{"client_id": {id}, "client_secret": {secret}}), status: 200, scope: "credentials:read usage:read"},
			{name: "basic with matching client_id in body", form: with(url.Values{"client_id": {id}}), header: basic(id, secret), status: 200},
			{name: "scope subset", form: with(url.Values{"scope": {"usage:read"}}), header: basic(id, secret), status: 200, scope: "usage:read"},
			{name: "empty scope means all", form: with(url.Values{"scope": {""}}), header: basic(id, secret), status: 200, scope: "credentials:read usage:read"},
			{name: "scope not held", form: with(url.Values{"scope": {"usage:read audit:read"}}), header: basic(id, secret), status: 400, errorCode: "invalid_scope"},
			{name: "GET", method: http.MethodGet, header: basic(id, secret), status: 400, errorCode: "invalid_request"},
			{name: "JSON body", ctype: "application/json", body: `{"grant_type":"client_credentials"}`, header: basic(id, secret), status: 400, errorCode: "invalid_request"},
			{name: "missing grant_type", form: url.Values{}, header: basic(id, secret), status: 400, errorCode: "invalid_request"},
			{name: "password grant", form: url.Values{"grant_type": {"password"}}, header: basic(id, secret), status: 400, errorCode: "unsupported_grant_type"},
			{name: "repeated parameter", body: "grant_type=client_credentials&grant_type=client_credentials", header: basic(id, secret), status: 400, errorCode: "invalid_request"},
			{name: "body too large", body: "grant_type=client_credentials&pad=" + strings.Repeat("a", 20<<10), header: basic(id, secret), status: 413, errorCode: "invalid_request"},
			{name: "both methods", form: with(url.Values{"client_id": {id}, "client_secret": {secret}}), header: basic(id, secret), status: 400, errorCode: "invalid_request"},
			{name: "basic and other client_id", form: with(url.Values{"client_id": {"sapci_other"}}), header: basic(id, secret), status: 400, errorCode: "invalid_request"},
			{name: "no authentication", form: cc, status: 401, errorCode: "invalid_client"},
			{name: "bearer instead of basic", form: cc, header: http.Header{"Authorization": {"Bearer x"}}, status: 401, errorCode: "invalid_client"},
			{name: "wrong secret", form: cc, header: basic(id, otherValid), status: 401, errorCode: "invalid_client"},
			{name: "mistyped secret", form: cc, header: basic(id, mistyped), status: 401, errorCode: "invalid_client"},
			{name: "unknown client", form: cc, header: basic("sapci_unknown", secret), status: 401, errorCode: "invalid_client"},
			{name: "revoked credential", form: cc, header: basic(revoked.Credential.ClientID, revoked.Secret), status: 401, errorCode: "invalid_client"},
			{name: "post without secret", form: with(url.Values{"client_id": {id}}), status: 401, errorCode: "invalid_client"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				body := tt.body
				if body == "" && tt.form != nil {
					body = tt.form.Encode()
				}
				method := cmpOr(tt.method, http.MethodPost)
				req, _ := http.NewRequest(method, env.URL+"/connect/token", strings.NewReader(body))
				req.Header.Set("Content-Type", cmpOr(tt.ctype, "application/x-www-form-urlencoded"))
				for k, v := range tt.header {
					req.Header[k] = v
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var got tokenReply
				if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
					t.Fatalf("answer is not JSON: %v", err)
				}
				if resp.StatusCode != tt.status || got.Error != tt.errorCode {
					t.Fatalf("got %d %q (%s), want %d %q", resp.StatusCode, got.Error, got.ErrorDescription, tt.status, tt.errorCode)
				}
				if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
					t.Errorf("Cache-Control = %q, want no-store", cc)
				}
				if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
					t.Errorf("Content-Type = %q", resp.Header.Get("Content-Type"))
				}
				if tt.status == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
					t.Errorf("401 without a Basic challenge: %q", resp.Header.Get("WWW-Authenticate"))
				}
				if tt.status == 200 {
					if got.AccessToken == "" || got.TokenType != "Bearer" || got.ExpiresIn != 3600 {
						t.Errorf("token response = %+v", got)
					}
					if tt.scope != "" && got.Scope != tt.scope {
						t.Errorf("scope = %q, want %q", got.Scope, tt.scope)
					}
				}
			})
		}
		t.Run("expired credential", func(t *testing.T) {
			form := url.Values{"grant_type": {"client_credentials"}}
			if resp, got := post(t, env, "/connect/token", form, basic(expiring.Credential.ClientID, expiring.Secret)); resp.StatusCode != 200 {
				t.Fatalf("before expiry: %d %+v", resp.StatusCode, got)
			} else if got.ExpiresIn > 60 {
				t.Errorf("a token outlives its credential: expires_in %d, credential expires in 60s", got.ExpiresIn)
			}
			clk.Add(2 * time.Minute)
			if resp, got := post(t, env, "/connect/token", form, basic(expiring.Credential.ClientID, expiring.Secret)); resp.StatusCode != 401 || got.Error != "invalid_client" {
				t.Errorf("after expiry: %d %+v, want 401 invalid_client", resp.StatusCode, got)
			}
		})
	})
}

// sameIssuer configures a second instance as part of the same deployment.
func sameIssuer(env *servertest.Env) servertest.Option {
	return func(c *server.Config) { c.Issuer = env.URL }
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

type meReply struct {
	ClientID     string `json:"client_id"`
	Name         string `json:"name"`
	Organization struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"organization"`
	Scopes    []string  `json:"scopes"`
	ExpiresAt time.Time `json:"expires_at"`
	IssuedAt  time.Time `json:"issued_at"`
}

// TestRealClient uses golang.org/x/oauth2 as an application would: it finds
// the token endpoint in the discovery document, gets a token and calls the
// API with it.
func TestRealClient(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		env := servertest.New(t, b)
		acme := env.Org(t, "Acme Corp")
		cred := env.Credential(t, acme.ID, "billing service", []string{scope.CredentialsRead, scope.UsageRead})

		for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
			resp, err := http.Get(env.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			var meta map[string]any
			json.NewDecoder(resp.Body).Decode(&meta)
			resp.Body.Close()
			want := map[string]any{
				"issuer": env.URL, "token_endpoint": env.URL + "/connect/token", "jwks_uri": env.URL + "/.well-known/jwks.json",
				"introspection_endpoint": env.URL + "/connect/introspect", "revocation_endpoint": env.URL + "/connect/revocation",
			}
			for k, v := range want {
				if meta[k] != v {
					t.Errorf("%s: %s = %v, want %v", path, k, meta[k], v)
				}
			}
			for _, k := range []string{"grant_types_supported", "token_endpoint_auth_methods_supported", "scopes_supported"} {
				if _, ok := meta[k].([]any); !ok {
					t.Errorf("%s: %s missing", path, k)
				}
			}
		}

		resp, err := http.Get(env.URL + "/.well-known/oauth-authorization-server")
		if err != nil {
			t.Fatal(err)
		}
		var meta struct {
			TokenEndpoint string `json:"token_endpoint"`
		}
		json.NewDecoder(resp.Body).Decode(&meta)
		resp.Body.Close()

		for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
			conf := clientcredentials.Config{
				ClientID: cred.Credential.ClientID, ClientSecret: cred.Secret,
				TokenURL: meta.TokenEndpoint, AuthStyle: style,
			}
			tok, err := conf.Token(t.Context())
			if err != nil {
				t.Fatalf("auth style %d: %v", style, err)
			}
			if tok.TokenType != "Bearer" || tok.Expiry.Before(time.Now().Add(59*time.Minute)) {
				t.Errorf("token = %+v", tok)
			}
			resp, err := conf.Client(t.Context()).Get(env.URL + "/api/v1/me")
			if err != nil {
				t.Fatal(err)
			}
			var me meReply
			json.NewDecoder(resp.Body).Decode(&me)
			resp.Body.Close()
			if resp.StatusCode != 200 || me.ClientID != cred.Credential.ClientID || me.Name != "billing service" ||
				me.Organization.Name != "Acme Corp" || me.Organization.ID != acme.ID ||
				!slices.Equal(me.Scopes, []string{"credentials:read", "usage:read"}) || me.ExpiresAt.Before(time.Now()) {
				t.Errorf("/api/v1/me = %d %+v", resp.StatusCode, me)
			}
		}
		// A scope-limited token shows only that scope.
		conf := clientcredentials.Config{ClientID: cred.Credential.ClientID, ClientSecret: cred.Secret, TokenURL: meta.TokenEndpoint, Scopes: []string{"usage:read"}}
		resp, err = conf.Client(t.Context()).Get(env.URL + "/api/v1/me")
		if err != nil {
			t.Fatal(err)
		}
		var me meReply
		json.NewDecoder(resp.Body).Decode(&me)
		resp.Body.Close()
		if !slices.Equal(me.Scopes, []string{"usage:read"}) {
			t.Errorf("scopes with scope=usage:read: %v", me.Scopes)
		}
	})
}

func getToken(t *testing.T, env *servertest.Env, c credential.Created) string {
	t.Helper()
	resp, got := post(t, env, "/connect/token", url.Values{"grant_type": {"client_credentials"}}, basic(c.Credential.ClientID, c.Secret))
	if resp.StatusCode != 200 {
		t.Fatalf("token: %d %+v", resp.StatusCode, got)
	}
	return got.AccessToken
}

// TestJWTIndependentVerifier checks the access token with another JOSE
// implementation against the published JWKS: RFC 9068 header and claims.
func TestJWTIndependentVerifier(t *testing.T) {
	for _, alg := range []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256} {
		t.Run(string(alg), func(t *testing.T) {
			env := servertest.New(t, storetest.Backends()[0], func(c *server.Config) { c.SigningAlgorithm = alg })
			acme := env.Org(t, "Acme")
			cred := env.Credential(t, acme.ID, "billing", []string{scope.UsageRead})
			raw := getToken(t, env, cred)

			resp, err := http.Get(env.URL + "/.well-known/jwks.json")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			set, err := jwk.Parse(body)
			if err != nil {
				t.Fatalf("JWKS does not parse: %v", err)
			}
			msg, err := jws.Parse([]byte(raw))
			if err != nil {
				t.Fatal(err)
			}
			h := msg.Signatures()[0].ProtectedHeaders()
			typ, _ := h.Type()
			kid, _ := h.KeyID()
			halg, _ := h.Algorithm()
			if typ != "at+jwt" || kid == "" || halg.String() != string(alg) {
				t.Errorf("header typ=%q kid=%q alg=%v; want at+jwt, a kid, %s", typ, kid, halg, alg)
			}
			if _, ok := set.LookupKeyID(kid); !ok {
				t.Errorf("kid %q is not in the JWKS", kid)
			}
			tok, err := jwt.Parse([]byte(raw), jwt.WithKeySet(set), jwt.WithValidate(true),
				jwt.WithIssuer(env.URL), jwt.WithAudience(env.URL))
			if err != nil {
				t.Fatalf("independent verification failed: %v", err)
			}
			sub, _ := tok.Subject()
			exp, _ := tok.Expiration()
			iat, _ := tok.IssuedAt()
			jti, _ := tok.JwtID()
			var clientID, scp, org string
			tok.Get("client_id", &clientID)
			tok.Get("scope", &scp)
			tok.Get("org_id", &org)
			if sub != cred.Credential.ClientID || clientID != sub || scp != "usage:read" || org != acme.ID || jti == "" ||
				exp.Sub(iat) != time.Hour {
				t.Errorf("claims sub=%q client_id=%q scope=%q org_id=%q jti=%q exp-iat=%v", sub, clientID, scp, org, jti, exp.Sub(iat))
			}
			// A token with one byte of the signature changed must fail.
			tampered := raw[:len(raw)-4] + flip(raw[len(raw)-4:])
			if _, err := jwt.Parse([]byte(tampered), jwt.WithKeySet(set)); err == nil {
				t.Error("a tampered token verified")
			}
		})
	}
}

func flip(s string) string {
	b := []byte(s)
	if b[0] == 'A' {
		b[0] = 'B'
	} else {
		b[0] = 'A'
	}
	return string(b)
}

// me calls /api/v1/me with a token.
func me(t *testing.T, env *servertest.Env, token string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, env.URL+"/api/v1/me", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp, out
}

func wantInvalidToken(t *testing.T, resp *http.Response, body map[string]any) {
	t.Helper()
	if resp.StatusCode != 401 || body["error"] != "invalid_token" ||
		!strings.Contains(resp.Header.Get("WWW-Authenticate"), `Bearer`) ||
		!strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("got %d %v, WWW-Authenticate %q; want 401 invalid_token", resp.StatusCode, body, resp.Header.Get("WWW-Authenticate"))
	}
}

func TestMeRefusesBadTokens(t *testing.T) {
	env := servertest.New(t, storetest.Backends()[0])
	acme := env.Org(t, "Acme")
	good := getToken(t, env, env.Credential(t, acme.ID, "billing", nil))
	other := servertest.New(t, storetest.Backends()[0]) // another issuer, other keys
	foreign := getToken(t, other, other.Credential(t, other.Org(t, "Acme").ID, "billing", nil))
	parts := strings.Split(good, ".")
	noneAlg := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt"}`)) + "." + parts[1] + "."
	for name, tok := range map[string]string{
		"missing": "", "garbage": "not-a-token", "alg none": noneAlg,
		"other issuer's keys": foreign, "truncated": good[:len(good)-10],
	} {
		t.Run(name, func(t *testing.T) {
			resp, body := me(t, env, tok)
			wantInvalidToken(t, resp, body)
		})
	}
	if resp, _ := me(t, env, good); resp.StatusCode != 200 {
		t.Errorf("valid token: %d", resp.StatusCode)
	}
}

// TestRevokeCredential: revoking stops new tokens and the ones already
// issued, at once on this instance and within a second on another one
// sharing the database, including a revocation made without any server
// (as the CLI does).
func TestRevokeCredential(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		a := servertest.New(t, b)
		peer := servertest.Start(t, a.DatabaseURL, sameIssuer(a)) // a second instance on the same database
		acme := a.Org(t, "Acme")
		c1 := a.Credential(t, acme.ID, "one", nil)
		c2 := a.Credential(t, acme.ID, "two", nil)
		t1, t2 := getToken(t, a, c1), getToken(t, a, c2)
		for _, env := range []*servertest.Env{a, peer} {
			for _, tok := range []string{t1, t2} {
				if resp, body := me(t, env, tok); resp.StatusCode != 200 {
					t.Fatalf("before revocation: %d %v", resp.StatusCode, body)
				}
			}
		}

		// Revoked through instance a: refused by a at once.
		if _, err := a.Server.Credentials.Revoke(t.Context(), access.CLI, c1.Credential.ClientID); err != nil {
			t.Fatal(err)
		}
		resp, body := me(t, a, t1)
		wantInvalidToken(t, resp, body)
		if resp, got := post(t, a, "/connect/token", url.Values{"grant_type": {"client_credentials"}}, basic(c1.Credential.ClientID, c1.Secret)); resp.StatusCode != 401 || got.Error != "invalid_client" {
			t.Errorf("token endpoint after revocation: %d %+v", resp.StatusCode, got)
		}
		// ...and by the peer within a second.
		waitRefused(t, peer, t1)

		// Revoked with no server involved, as the CLI does.
		cli := &credential.Service{Store: storetest.Open(t, a.DatabaseURL), Now: time.Now, Rand: strings.NewReader(strings.Repeat("x", 100))}
		if _, err := cli.Revoke(context.Background(), access.CLI, c2.Credential.ClientID); err != nil {
			t.Fatal(err)
		}
		waitRefused(t, a, t2)
		waitRefused(t, peer, t2)
	})
}

// waitRefused takes one sync step on env, as its background loop does every
// 250 ms (and on PostgreSQL as soon as a change commits), and checks that
// the token is refused.
func waitRefused(t *testing.T, env *servertest.Env, tok string) {
	t.Helper()
	if err := env.Server.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	resp, body := me(t, env, tok)
	if resp.StatusCode != 401 {
		t.Fatalf("token still accepted after a sync step: %d", resp.StatusCode)
	}
	wantInvalidToken(t, resp, body)
}

// TestRestart: credentials keep working and tokens issued before a restart
// still verify after it.
func TestRestart(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		env := servertest.New(t, b)
		acme := env.Org(t, "Acme")
		c := env.Credential(t, acme.ID, "billing", nil)
		before := getToken(t, env, c)
		env.Restart(t)
		if resp, body := me(t, env, before); resp.StatusCode != 200 {
			t.Errorf("token from before the restart: %d %v", resp.StatusCode, body)
		}
		after := getToken(t, env, c)
		if resp, _ := me(t, env, after); resp.StatusCode != 200 {
			t.Errorf("token after the restart: %d", resp.StatusCode)
		}
	})
}

// TestNoPlainSecret: neither a secret nor a token appears in the logs or
// anywhere in the database files.
func TestNoPlainSecret(t *testing.T) {
	env := servertest.New(t, storetest.Backends()[0])
	acme := env.Org(t, "Acme")
	c := env.Credential(t, acme.ID, "billing", nil)
	tok := getToken(t, env, c)
	me(t, env, tok)
	post(t, env, "/connect/token", url.Values{"grant_type": {"client_credentials"}}, basic(c.Credential.ClientID, c.Secret+"x"))
	post(t, env, "/connect/revocation", url.Values{"token": {tok}}, basic(c.Credential.ClientID, c.Secret))
	env.Restart(t) // a graceful stop writes pending usage to the database

	logs := env.Logs.String()
	if !strings.Contains(logs, "token revoked") {
		t.Fatalf("the log capture saw nothing; logs: %q", logs)
	}
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "token revoked") && !strings.Contains(line, `"request_id":"`) {
			t.Errorf("a log line written during a request lacks its request ID: %s", line)
		}
	}
	files, _ := filepath.Glob(env.DatabaseURL + "*")
	if len(files) == 0 {
		t.Fatal("no database files found")
	}
	secretBody := c.Secret[len(credential.SecretPrefix):]
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), secretBody) {
			t.Errorf("%s contains the plain secret", filepath.Base(f))
		}
	}
	if strings.Contains(logs, secretBody) || strings.Contains(logs, tok) || strings.Contains(logs, strings.Split(tok, ".")[2]) {
		t.Error("the logs contain a secret or a token")
	}
	stored, err := env.Store.GetCredential(t.Context(), c.Credential.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.SecretHash != credential.HashSecret(c.Secret).String() {
		t.Errorf("stored hash %q is not the SHA-256 of the secret", stored.SecretHash)
	}
}

type introspection struct {
	Active   bool   `json:"active"`
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
	Exp      int64  `json:"exp"`
	Sub      string `json:"sub"`
	Error    string `json:"error"`
}

func introspect(t *testing.T, env *servertest.Env, caller credential.Created, tok string) (int, introspection) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, env.URL+"/connect/introspect", strings.NewReader(url.Values{"token": {tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(caller.Credential.ClientID, caller.Secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out introspection
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func TestIntrospection(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		env := servertest.New(t, b)
		acme, beta := env.Org(t, "Acme"), env.Org(t, "Beta")
		gateway := env.Credential(t, acme.ID, "gateway", []string{scope.Introspect})
		plain := env.Credential(t, acme.ID, "plain", nil)
		app := env.Credential(t, acme.ID, "app", []string{scope.UsageRead})
		foreign := env.Credential(t, beta.ID, "foreign", nil)
		appTok := getToken(t, env, app)

		if status, got := introspect(t, env, gateway, appTok); status != 200 || !got.Active || got.ClientID != app.Credential.ClientID ||
			got.Scope != "usage:read" || got.Sub != app.Credential.ClientID || got.Exp == 0 {
			t.Errorf("active token: %d %+v", status, got)
		}
		if status, got := introspect(t, env, plain, appTok); status != 403 || got.Error != "insufficient_scope" {
			t.Errorf("caller without sapient:introspect: %d %+v", status, got)
		}
		bad := gateway
		bad.Secret = plain.Secret
		if status, got := introspect(t, env, bad, appTok); status != 401 || got.Error != "invalid_client" {
			t.Errorf("wrong secret: %d %+v", status, got)
		}
		for name, tok := range map[string]string{
			"garbage": "garbage", "other organisation": getToken(t, env, foreign),
		} {
			if status, got := introspect(t, env, gateway, tok); status != 200 || got.Active || got.ClientID != "" {
				t.Errorf("%s: %d %+v, want active false and nothing else", name, status, got)
			}
		}
		if _, err := env.Server.Credentials.Revoke(t.Context(), access.CLI, app.Credential.ClientID); err != nil {
			t.Fatal(err)
		}
		if status, got := introspect(t, env, gateway, appTok); status != 200 || got.Active {
			t.Errorf("token of a revoked credential: %d %+v", status, got)
		}
	})
}

func TestRevocationEndpoint(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		env := servertest.New(t, b)
		peer := servertest.Start(t, env.DatabaseURL, sameIssuer(env))
		acme := env.Org(t, "Acme")
		c1, c2 := env.Credential(t, acme.ID, "one", nil), env.Credential(t, acme.ID, "two", nil)
		tok1, tok2 := getToken(t, env, c1), getToken(t, env, c2)

		// RFC 7009 §2.1: only the client the token was issued to may revoke it.
		if resp, got := post(t, env, "/connect/revocation", url.Values{"token": {tok1}}, basic(c2.Credential.ClientID, c2.Secret)); resp.StatusCode != 400 || got.Error != "unauthorized_client" {
			t.Errorf("revoking another client's token: %d %+v", resp.StatusCode, got)
		}
		if resp, _ := me(t, env, tok1); resp.StatusCode != 200 {
			t.Fatalf("token revoked by another client: %d", resp.StatusCode)
		}
		if resp, got := post(t, env, "/connect/revocation", url.Values{"token": {tok1}, "token_type_hint": {"access_token"}}, basic(c1.Credential.ClientID, c1.Secret)); resp.StatusCode != 200 {
			t.Fatalf("revoke own token: %d %+v", resp.StatusCode, got)
		}
		resp, body := me(t, env, tok1)
		wantInvalidToken(t, resp, body)
		waitRefused(t, peer, tok1)
		if resp, _ := me(t, env, tok2); resp.StatusCode != 200 {
			t.Errorf("revoking one token affected another: %d", resp.StatusCode)
		}
		// §2.2: invalid or already revoked tokens are answered with 200.
		for _, tok := range []string{"garbage", tok1} {
			if resp, got := post(t, env, "/connect/revocation", url.Values{"token": {tok}}, basic(c1.Credential.ClientID, c1.Secret)); resp.StatusCode != 200 {
				t.Errorf("revoke %q: %d %+v", tok[:7], resp.StatusCode, got)
			}
		}
		if resp, got := post(t, env, "/connect/revocation", url.Values{"token": {tok2}}, nil); resp.StatusCode != 401 || got.Error != "invalid_client" {
			t.Errorf("unauthenticated revocation: %d %+v", resp.StatusCode, got)
		}
		if resp, got := post(t, env, "/connect/revocation", url.Values{}, basic(c1.Credential.ClientID, c1.Secret)); resp.StatusCode != 400 || got.Error != "invalid_request" {
			t.Errorf("missing token: %d %+v", resp.StatusCode, got)
		}
		// The credential itself still gets new tokens.
		if resp, _ := me(t, env, getToken(t, env, c1)); resp.StatusCode != 200 {
			t.Errorf("new token after revoking an old one: %d", resp.StatusCode)
		}
	})
}

// TestOperations checks health, readiness and metrics.
func TestOperations(t *testing.T) {
	env := servertest.New(t, storetest.Backends()[0])
	acme := env.Org(t, "Acme")
	getToken(t, env, env.Credential(t, acme.ID, "billing", nil))
	post(t, env, "/connect/token", url.Values{"grant_type": {"client_credentials"}}, nil)
	for path, want := range map[string]string{
		"/healthz": "ok", "/readyz": "ready",
		"/metrics": `sapient_token_requests_total{outcome="issued"} 1`,
	} {
		resp, err := http.Get(env.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("%s = %d, want %q in %.300s", path, resp.StatusCode, want, body)
		}
	}
	resp, err := http.Get(env.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`sapient_token_requests_total{outcome="invalid_client"} 1`, // the unauthenticated request
		`sapient_token_request_duration_seconds_count 2`,
		`sapient_http_request_duration_seconds_count{method="POST",route="/connect/token"} 2`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// The database goes away. The webhook queue stops first, as it does
	// when the process ends: its leader, on a closed database, would try
	// to resign until the shutdown's time is up.
	if err := env.Server.WebhookQueue.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	env.Store.Close()
	if resp, err := http.Get(env.URL + "/readyz"); err != nil || resp.StatusCode != 503 {
		t.Errorf("/readyz with the database closed: %v %v", resp.StatusCode, err)
	}
}
