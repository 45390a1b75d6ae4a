// The interoperability tests prove that real, unmodified OAuth 2.0 client
// libraries of other ecosystems work with Sapient: openid-client and jose in Node,
// Authlib, requests-oauthlib and PyJWT in Python. Each client script lives
// under interop/ at the repository root, runs against a whole Sapient
// instance, and prints a JSON summary that the tests here assert on.
//
// A missing runtime or library skips the test, unless
// SAPIENT_TEST_REQUIRE_INTEROP=1, as in CI, where it fails instead.

package oauth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/scope"
	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
)

// RequireEnv names the environment variable that turns a missing client
// runtime or library from a skip into a failure.
const RequireEnv = "SAPIENT_TEST_REQUIRE_INTEROP"

// pythonPath is Debian's interpreter: the Debian packages python3-authlib,
// python3-requests-oauthlib and python3-jwt install for it, not for any
// other python3 that may come first on PATH.
const pythonPath = "/usr/bin/python3"

// scriptTimeout bounds one client run; a healthy one takes a second or two.
const scriptTimeout = 90 * time.Second

// clientScopes are the scopes of the credential the clients act as.
var clientScopes = []string{scope.CredentialsRead, scope.UsageRead}

// knownMetadataGaps lists the RFC 8414 §2 fields that Authlib's validator
// rejects on purpose, with the reason.
var knownMetadataGaps = map[string]string{
	// REQUIRED by RFC 8414 §2, and Sapient sends it, as an empty array:
	// it has no authorization endpoint (RFC 6749 §3.1), so there is no
	// response_type it supports. Authlib 1.2 treats an empty array as a
	// missing member.
	"response_types_supported": "Sapient supports no response_type",
}

// fixture is one running instance with the two credentials the scripts use.
type fixture struct {
	env        *servertest.Env
	org        store.Org
	client     credential.Created
	introspect credential.Created
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	env := servertest.New(t, storetest.Backends()[0])
	o := env.Org(t, "Interop Ltd")
	return &fixture{
		env:        env,
		org:        o,
		client:     env.Credential(t, o.ID, "interop client", clientScopes),
		introspect: env.Credential(t, o.ID, "interop introspector", []string{scope.Introspect}),
	}
}

// missing skips the test, or fails it where the interop tests are required.
func missing(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("interop: "+format+" (required because %s=1)", append(args, RequireEnv)...)
	}
	t.Skipf("interop: "+format+"; set %s=1 to make this a failure", append(args, RequireEnv)...)
}

// repoRoot returns the repository root, two levels above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// run executes a client script against f and decodes its JSON summary
// into out. A non-zero exit fails the test with everything it printed.
func (f *fixture) run(t *testing.T, dir string, out any, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), scriptTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"SAPIENT_ISSUER="+f.env.URL,
		"CLIENT_ID="+f.client.Credential.ClientID,
		"CLIENT_SECRET="+f.client.Secret,
		"INTROSPECT_ID="+f.introspect.Credential.ClientID,
		"INTROSPECT_SECRET="+f.introspect.Secret,
		// The instance is on loopback: never send its traffic to a proxy.
		"NO_PROXY=127.0.0.1,localhost,::1",
		"no_proxy=127.0.0.1,localhost,::1",
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s timed out after %s\nstdout:\n%s\nstderr:\n%s", name, scriptTimeout, &stdout, &stderr)
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run %s: %v", name, err)
	}
	if err != nil {
		t.Fatalf("%s %s failed (%v)\nsummary:\n%s\nstderr:\n%s", name, strings.Join(args, " "), err, &stdout, &stderr)
	}
	if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
		t.Fatalf("%s printed no JSON summary: %v\nstdout:\n%s\nstderr:\n%s", name, err, &stdout, &stderr)
	}
	t.Logf("%s summary:\n%s", filepath.Base(args[len(args)-1]), &stdout)
	if stderr.Len() > 0 {
		t.Logf("stderr:\n%s", &stderr)
	}
}

// checkNoSecretsLogged fails if the instance logged either secret.
func (f *fixture) checkNoSecretsLogged(t *testing.T) {
	t.Helper()
	logs := f.env.Logs.String()
	for _, c := range []credential.Created{f.client, f.introspect} {
		if strings.Contains(logs, c.Secret) {
			t.Errorf("the secret of %s appears in the logs", c.Credential.Name)
		}
	}
}

// step is one entry of a script's list of checks.
type step struct {
	Name string `json:"name"`
	OK   bool   `json:"ok"`
}

// metadata is the part of the discovery document the scripts report.
type metadata struct {
	Issuer                string `json:"issuer"`
	TokenEndpoint         string `json:"token_endpoint"`
	JWKSURI               string `json:"jwks_uri"`
	IntrospectionEndpoint string `json:"introspection_endpoint"`
	RevocationEndpoint    string `json:"revocation_endpoint"`
}

// tokenResult is a token response as a script saw it, without the token.
type tokenResult struct {
	TokenType      string  `json:"token_type"`
	ExpiresIn      float64 `json:"expires_in"`
	Scope          string  `json:"scope"`
	HasAccessToken bool    `json:"has_access_token"`
}

// verifiedJWT is what a JOSE library verified.
type verifiedJWT struct {
	Verified bool `json:"verified"`
	Header   struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
		Kid string `json:"kid"`
	} `json:"header"`
	Claims struct {
		Iss      string  `json:"iss"`
		Sub      string  `json:"sub"`
		Aud      any     `json:"aud"`
		Exp      float64 `json:"exp"`
		Iat      float64 `json:"iat"`
		JTI      string  `json:"jti"`
		ClientID string  `json:"client_id"`
		Scope    string  `json:"scope"`
		OrgID    string  `json:"org_id"`
	} `json:"claims"`
}

// meResult is GET /api/v1/me as a script saw it.
type meResult struct {
	Status int     `json:"status"`
	Body   meReply `json:"body"`
}

// introspectionReply is an RFC 7662 §2.2 response.
type introspectionReply struct {
	Active   bool    `json:"active"`
	ClientID string  `json:"client_id"`
	Scope    string  `json:"scope"`
	Sub      string  `json:"sub"`
	Exp      float64 `json:"exp"`
}

func checkSteps(t *testing.T, ok bool, steps []step, want ...string) {
	t.Helper()
	if !ok {
		t.Errorf("summary ok = false")
	}
	var got []string
	for _, s := range steps {
		if !s.OK {
			t.Errorf("step %s failed", s.Name)
		}
		got = append(got, s.Name)
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("step %s did not run (ran %v)", w, got)
		}
	}
}

func (f *fixture) checkMetadata(t *testing.T, which string, m metadata) {
	t.Helper()
	want := metadata{
		Issuer:                f.env.URL,
		TokenEndpoint:         f.env.URL + "/connect/token",
		JWKSURI:               f.env.URL + "/.well-known/jwks.json",
		IntrospectionEndpoint: f.env.URL + "/connect/introspect",
		RevocationEndpoint:    f.env.URL + "/connect/revocation",
	}
	if m != want {
		t.Errorf("%s metadata = %+v, want %+v", which, m, want)
	}
}

func checkToken(t *testing.T, which string, got tokenResult, wantScope string) {
	t.Helper()
	// RFC 6749 §7.1: the token type is case-insensitive.
	if !strings.EqualFold(got.TokenType, "Bearer") || !got.HasAccessToken {
		t.Errorf("%s: token_type %q, access token present %v; want a Bearer token", which, got.TokenType, got.HasAccessToken)
	}
	// openid-client reports the seconds left, so allow for a slow run.
	if got.ExpiresIn < 3600-scriptTimeout.Seconds() || got.ExpiresIn > 3600 {
		t.Errorf("%s: expires_in = %v, want 3600", which, got.ExpiresIn)
	}
	if got.Scope != wantScope {
		t.Errorf("%s: scope = %q, want %q", which, got.Scope, wantScope)
	}
}

func (f *fixture) checkJWT(t *testing.T, got verifiedJWT) {
	t.Helper()
	if !got.Verified {
		t.Fatalf("the library did not verify the token")
	}
	if got.Header.Alg != "ES256" || got.Header.Typ != "at+jwt" || got.Header.Kid == "" {
		t.Errorf("JWT header = %+v, want alg ES256, typ at+jwt and a kid", got.Header)
	}
	c := got.Claims
	aud, _ := got.Claims.Aud.(string)
	if c.Iss != f.env.URL || aud != f.env.URL {
		t.Errorf("iss %q, aud %v; want both %q", c.Iss, c.Aud, f.env.URL)
	}
	if c.ClientID != f.client.Credential.ClientID || c.Sub != f.client.Credential.ClientID {
		t.Errorf("client_id %q, sub %q; want %q", c.ClientID, c.Sub, f.client.Credential.ClientID)
	}
	if c.OrgID != f.org.ID {
		t.Errorf("org_id = %q, want %q", c.OrgID, f.org.ID)
	}
	if c.Scope != strings.Join(clientScopes, " ") {
		t.Errorf("scope = %q, want %q", c.Scope, strings.Join(clientScopes, " "))
	}
	if c.JTI == "" || c.Exp-c.Iat != 3600 {
		t.Errorf("jti %q, exp-iat %v; want a jti and one hour", c.JTI, c.Exp-c.Iat)
	}
}

func (f *fixture) checkMe(t *testing.T, got meResult) {
	t.Helper()
	b := got.Body
	if got.Status != 200 || b.ClientID != f.client.Credential.ClientID || b.Name != f.client.Credential.Name {
		t.Errorf("/api/v1/me = %d %+v, want 200 for %s (%s)", got.Status, b, f.client.Credential.ClientID, f.client.Credential.Name)
	}
	if b.Organization.ID != f.org.ID || b.Organization.Name != f.org.Name {
		t.Errorf("/api/v1/me organization = %+v, want %s (%s)", b.Organization, f.org.ID, f.org.Name)
	}
	if !slices.Equal(slices.Sorted(slices.Values(b.Scopes)), clientScopes) {
		t.Errorf("/api/v1/me scopes = %v, want %v", b.Scopes, clientScopes)
	}
	if d := b.ExpiresAt.Sub(b.IssuedAt); d != time.Hour {
		t.Errorf("/api/v1/me expires_at - issued_at = %s, want 1h", d)
	}
}

func (f *fixture) checkIntrospection(t *testing.T, before, after introspectionReply) {
	t.Helper()
	if !before.Active || before.ClientID != f.client.Credential.ClientID || before.Scope != strings.Join(clientScopes, " ") || before.Exp == 0 {
		t.Errorf("introspection of a live token = %+v, want active for %s with scope %q", before, f.client.Credential.ClientID, strings.Join(clientScopes, " "))
	}
	if after != (introspectionReply{}) {
		t.Errorf("introspection of a revoked token = %+v, want only active: false (RFC 7662 §2.2)", after)
	}
}

func TestNodeOpenIDClient(t *testing.T) {
	dir := filepath.Join(repoRoot(t), "interop", "node")
	node, err := exec.LookPath("node")
	if err != nil {
		missing(t, "node is not installed")
	}
	for _, pkg := range []string{"openid-client", "jose"} {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg, "package.json")); err != nil {
			missing(t, "Node package %s is not installed; run npm ci --prefix interop/node", pkg)
		}
	}
	f := newFixture(t)
	var s struct {
		OK              bool               `json:"ok"`
		Steps           []step             `json:"steps"`
		Libraries       map[string]string  `json:"libraries"`
		DiscoveryOIDC   metadata           `json:"discovery_oidc"`
		DiscoveryOAuth2 metadata           `json:"discovery_oauth2"`
		TokenBasic      tokenResult        `json:"token_basic"`
		TokenBasicScope tokenResult        `json:"token_basic_scope"`
		TokenPostDflt   tokenResult        `json:"token_post_default"`
		TokenPost       tokenResult        `json:"token_post"`
		JWT             verifiedJWT        `json:"jwt"`
		Me              meResult           `json:"me"`
		Introspection   introspectionReply `json:"introspection"`
		MeRevoked       struct {
			Status     int `json:"status"`
			Challenges []struct {
				Scheme     string            `json:"scheme"`
				Parameters map[string]string `json:"parameters"`
			} `json:"challenges"`
		} `json:"me_after_revocation"`
		IntrospectionRevoked introspectionReply `json:"introspection_after_revocation"`
		WrongSecret          struct {
			Status     int    `json:"status"`
			Error      string `json:"error"`
			Challenges []struct {
				Scheme string `json:"scheme"`
			} `json:"challenges"`
		} `json:"wrong_secret"`
	}
	f.run(t, dir, &s, node, "client.mjs")
	t.Logf("openid-client %s, jose %s", s.Libraries["openid-client"], s.Libraries["jose"])

	checkSteps(t, s.OK, s.Steps, "discovery_oidc", "discovery_oauth2", "token_basic", "token_basic_scope",
		"token_post_default", "token_post", "jwt", "me", "introspection", "revocation",
		"me_after_revocation", "introspection_after_revocation", "wrong_secret")
	f.checkMetadata(t, "openid-configuration", s.DiscoveryOIDC)
	f.checkMetadata(t, "oauth-authorization-server", s.DiscoveryOAuth2)
	all := strings.Join(clientScopes, " ")
	checkToken(t, "client_secret_basic", s.TokenBasic, all)
	checkToken(t, "client_secret_basic with scope", s.TokenBasicScope, scope.UsageRead)
	checkToken(t, "client_secret_post (the library's default)", s.TokenPostDflt, all)
	checkToken(t, "client_secret_post with scope", s.TokenPost, all)
	f.checkJWT(t, s.JWT)
	f.checkMe(t, s.Me)
	f.checkIntrospection(t, s.Introspection, s.IntrospectionRevoked)

	// RFC 6750 §3.1, as the library parsed the challenge.
	if s.MeRevoked.Status != 401 || len(s.MeRevoked.Challenges) != 1 ||
		s.MeRevoked.Challenges[0].Scheme != "bearer" || s.MeRevoked.Challenges[0].Parameters["error"] != "invalid_token" {
		t.Errorf("/api/v1/me with a revoked token = %+v, want 401 with one Bearer challenge, error invalid_token", s.MeRevoked)
	}
	// RFC 6749 §5.2: a client that used HTTP Basic gets 401 with a Basic
	// challenge.
	if s.WrongSecret.Status != 401 || s.WrongSecret.Error != "invalid_client" ||
		len(s.WrongSecret.Challenges) != 1 || s.WrongSecret.Challenges[0].Scheme != "basic" {
		t.Errorf("wrong secret = %+v, want 401 invalid_client with one Basic challenge", s.WrongSecret)
	}
	f.checkNoSecretsLogged(t)
}

func TestPythonAuthlib(t *testing.T) {
	dir := filepath.Join(repoRoot(t), "interop", "python")
	if _, err := os.Stat(pythonPath); err != nil {
		missing(t, "%s is not installed", pythonPath)
	}
	probe := exec.CommandContext(t.Context(), pythonPath, "-c", "import authlib, requests_oauthlib, jwt, cryptography")
	if out, err := probe.CombinedOutput(); err != nil {
		missing(t, "Python libraries are missing (%s); run apt-get install python3-authlib python3-requests-oauthlib python3-jwt",
			strings.TrimSpace(string(out)))
	}
	f := newFixture(t)
	var s struct {
		OK        bool              `json:"ok"`
		Steps     []step            `json:"steps"`
		Libraries map[string]string `json:"libraries"`
		Discovery struct {
			metadata
			RFC8414Invalid map[string]string `json:"rfc8414_invalid"`
			OIDCIssuer     string            `json:"openid_configuration_issuer"`
			OIDCInvalid    map[string]string `json:"openid_invalid"`
		} `json:"discovery"`
		AuthlibBasic      tokenResult `json:"authlib_basic"`
		AuthlibBasicScope tokenResult `json:"authlib_basic_scope"`
		AuthlibPost       tokenResult `json:"authlib_post"`
		OAuthlibBasic     struct {
			tokenResult
			MeStatus   int    `json:"me_status"`
			MeClientID string `json:"me_client_id"`
		} `json:"requests_oauthlib_basic"`
		OAuthlibPost struct {
			tokenResult
			MeStatus   int    `json:"me_status"`
			MeClientID string `json:"me_client_id"`
		} `json:"requests_oauthlib_post"`
		JWT           verifiedJWT        `json:"jwt"`
		Me            meResult           `json:"me"`
		Introspection introspectionReply `json:"introspection"`
		Revocation    struct {
			Status int `json:"status"`
		} `json:"revocation"`
		MeRevoked struct {
			Status          int    `json:"status"`
			WWWAuthenticate string `json:"www_authenticate"`
		} `json:"me_after_revocation"`
		IntrospectionRevoked introspectionReply `json:"introspection_after_revocation"`
		WrongSecret          struct {
			Error string `json:"error"`
		} `json:"wrong_secret"`
	}
	f.run(t, dir, &s, pythonPath, "client.py")
	t.Logf("libraries: %v", s.Libraries)

	checkSteps(t, s.OK, s.Steps, "discovery", "authlib_basic", "authlib_basic_scope", "authlib_post",
		"requests_oauthlib_basic", "requests_oauthlib_post", "jwt", "me", "introspection", "revocation",
		"me_after_revocation", "introspection_after_revocation", "wrong_secret")
	f.checkMetadata(t, "oauth-authorization-server", s.Discovery.metadata)
	if s.Discovery.OIDCIssuer != f.env.URL {
		t.Errorf("openid-configuration issuer = %q, want %q", s.Discovery.OIDCIssuer, f.env.URL)
	}
	for field, msg := range s.Discovery.RFC8414Invalid {
		if _, ok := knownMetadataGaps[field]; !ok {
			t.Errorf("Authlib rejects the RFC 8414 metadata field %s: %s", field, msg)
		}
	}
	for field, msg := range s.Discovery.OIDCInvalid {
		// Sapient is an OAuth 2.0 authorization server, not an OpenID
		// Provider: it has no authorization endpoint and issues no ID
		// tokens, so the OpenID-only requirements are reported, not failed.
		t.Logf("Authlib's OpenID Provider metadata check: %s: %s", field, msg)
	}
	all := strings.Join(clientScopes, " ")
	checkToken(t, "authlib client_secret_basic", s.AuthlibBasic, all)
	checkToken(t, "authlib client_secret_basic with scope", s.AuthlibBasicScope, scope.UsageRead)
	checkToken(t, "authlib client_secret_post", s.AuthlibPost, all)
	for name, r := range map[string]struct {
		tok      tokenResult
		status   int
		clientID string
	}{
		"requests-oauthlib client_secret_basic": {s.OAuthlibBasic.tokenResult, s.OAuthlibBasic.MeStatus, s.OAuthlibBasic.MeClientID},
		"requests-oauthlib client_secret_post":  {s.OAuthlibPost.tokenResult, s.OAuthlibPost.MeStatus, s.OAuthlibPost.MeClientID},
	} {
		checkToken(t, name, r.tok, all)
		if r.status != 200 || r.clientID != f.client.Credential.ClientID {
			t.Errorf("%s: /api/v1/me = %d for %q, want 200 for %q", name, r.status, r.clientID, f.client.Credential.ClientID)
		}
	}
	f.checkJWT(t, s.JWT)
	f.checkMe(t, s.Me)
	f.checkIntrospection(t, s.Introspection, s.IntrospectionRevoked)
	if s.Revocation.Status != 200 {
		t.Errorf("revocation status = %d, want 200 (RFC 7009 §2.2)", s.Revocation.Status)
	}
	if s.MeRevoked.Status != 401 || !strings.HasPrefix(s.MeRevoked.WWWAuthenticate, "Bearer ") ||
		!strings.Contains(s.MeRevoked.WWWAuthenticate, `error="invalid_token"`) {
		t.Errorf("/api/v1/me with a revoked token = %+v, want 401 with Bearer error=\"invalid_token\"", s.MeRevoked)
	}
	if s.WrongSecret.Error != "invalid_client" {
		t.Errorf("wrong secret error = %q, want invalid_client", s.WrongSecret.Error)
	}
	f.checkNoSecretsLogged(t)
}
