package console_test

import (
	"encoding/json"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store"
)

// ssoEnv is an instance with one organisation, an Admin, and a real
// OpenID Connect provider (mockoidc, on 127.0.0.1) added through Admin >
// Single sign-on: it vouches for acme.test as Acme and for
// boss@example.com as an Admin.
type ssoEnv struct {
	env *servertest.Env
	idp *mockoidc.MockOIDC
	// forgeNonce, when set, makes the provider sign an ID token for
	// another nonce than the login asked for, as a replayed or injected
	// token would carry.
	forgeNonce atomic.Bool
	// forgeAudience, when set, makes the provider sign ID tokens for
	// another client of its own, as a token meant for another application
	// at the same provider would be.
	forgeAudience atomic.Bool
	acme          store.Org
	admin         *http.Client
	start         string // the login page's "Sign in with" link
}

func newSSOEnv(t *testing.T) *ssoEnv {
	t.Helper()
	idp, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &ssoEnv{env: servertest.New(t, sqlite), idp: idp}
	idp.AddMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if e.forgeNonce.Load() && r.URL.Path == mockoidc.AuthorizationEndpoint {
				q := r.URL.Query()
				q.Set("nonce", "forged")
				r.URL.RawQuery = q.Encode()
			}
			if e.forgeAudience.Load() && r.URL.Path == mockoidc.TokenEndpoint {
				rec := httptest.NewRecorder()
				next.ServeHTTP(rec, r)
				var answer map[string]any
				json.Unmarshal(rec.Body.Bytes(), &answer)
				raw, _ := answer["id_token"].(string)
				if raw == "" { // an error, as to the client's first try with HTTP Basic
					maps.Copy(w.Header(), rec.Header())
					w.WriteHeader(rec.Code)
					w.Write(rec.Body.Bytes())
					return
				}
				tok, err := idp.Keypair.VerifyJWT(raw, time.Now)
				if err != nil {
					t.Errorf("the provider's own ID token: %v", err)
					return
				}
				claims := tok.Claims.(jwt.MapClaims)
				claims["aud"] = "another-client"
				if answer["id_token"], err = idp.Keypair.SignJWT(claims); err != nil {
					t.Error(err)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				json.NewEncoder(w).Encode(answer)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := idp.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idp.Shutdown() })
	e.acme = e.env.Org(t, "Acme")
	e.env.User(t, "root@example.com", testPassword, store.RoleAdmin, "")
	e.admin = browserless(t)
	post(t, e.admin, e.env.URL+"/login", url.Values{"email": {"root@example.com"}, "password": {testPassword}}, http.StatusOK)

	body := post(t, e.admin, e.env.URL+"/admin/sso", url.Values{"name": {"Acme IdP"}, "issuer": {idp.Issuer()},
		"client_id": {idp.ClientID}, "client_secret": {idp.ClientSecret}, "domains": {"acme.test"}, "org": {e.acme.ID},
		"admin_emails": {"boss@example.com"}}, http.StatusOK)
	if !strings.Contains(body, "Provider added") || strings.Contains(body, idp.ClientSecret) {
		t.Fatalf("Add provider answered without the notice, or showed the secret:\n%s", body)
	}
	login := get(t, browserless(t), e.env.URL+"/login", http.StatusOK)
	m := regexp.MustCompile(`href="(/login/sso/sso_[a-z0-9]+)\?next=[^"]*">Sign in with Acme IdP<`).FindStringSubmatch(login)
	if m == nil {
		t.Fatalf("the login page offers no Sign in with Acme IdP:\n%s", login)
	}
	e.start = e.env.URL + m[1]
	return e
}

// signIn logs a new browser in through the provider as u and returns the
// browser and the page it ends on.
func (e *ssoEnv) signIn(t *testing.T, u *mockoidc.MockUser, want int) (*http.Client, string) {
	t.Helper()
	e.idp.QueueUser(u)
	c := browserless(t)
	return c, get(t, c, e.start, want)
}

func TestSingleSignOn(t *testing.T) {
	e := newSSOEnv(t)
	ctx := t.Context()

	t.Run("a person of the organisation's domain is created and logged in", func(t *testing.T) {
		c, _ := e.signIn(t, &mockoidc.MockUser{Subject: "1", Email: "ann@acme.test", EmailVerified: true}, http.StatusOK)
		page := get(t, c, e.env.URL+"/credentials", http.StatusOK)
		if !strings.Contains(page, "Current API Credentials") {
			t.Fatalf("after single sign-on the credentials page is not shown:\n%s", page)
		}
		u, err := e.env.Store.GetUserByEmail(ctx, "ann@acme.test")
		if err != nil || u.Role != store.RoleCustomer || u.OrgID != e.acme.ID || u.PasswordHash != "" {
			t.Fatalf("user = %+v, %v; want a Customer of Acme without a password", u, err)
		}
		// Her second login finds her user.
		if _, page := e.signIn(t, &mockoidc.MockUser{Subject: "1", Email: "Ann@Acme.test", EmailVerified: true}, http.StatusOK); strings.Contains(page, `role="alert"`) {
			t.Fatalf("second login refused:\n%s", page)
		}
	})

	t.Run("a named Admin is created as an Admin", func(t *testing.T) {
		c, _ := e.signIn(t, &mockoidc.MockUser{Subject: "2", Email: "boss@example.com", EmailVerified: true}, http.StatusOK)
		get(t, c, e.env.URL+"/admin/users", http.StatusOK)
		if u, err := e.env.Store.GetUserByEmail(ctx, "boss@example.com"); err != nil || u.Role != store.RoleAdmin {
			t.Fatalf("user = %+v, %v; want an Admin", u, err)
		}
	})

	refused := []struct {
		name, email, message string
		verified             bool
	}{
		{"another domain", "eve@evil.test", "There is no account for eve@evil.test", true},
		{"an unverified email", "bob@acme.test", "has not verified your email", false},
		{"an Admin of the domain not named", "root@example.com", "may not log in root@example.com", true},
	}
	for _, tt := range refused {
		t.Run("refused: "+tt.name, func(t *testing.T) {
			_, page := e.signIn(t, &mockoidc.MockUser{Subject: "3", Email: tt.email, EmailVerified: tt.verified}, http.StatusForbidden)
			if !strings.Contains(page, tt.message) {
				t.Fatalf("page does not say %q:\n%s", tt.message, page)
			}
			if tt.email != "root@example.com" {
				if _, err := e.env.Store.GetUserByEmail(ctx, tt.email); err == nil {
					t.Fatalf("a refused login created %s", tt.email)
				}
			}
		})
	}

	t.Run("a disabled user stays out", func(t *testing.T) {
		u, err := e.env.Store.GetUserByEmail(ctx, "ann@acme.test")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.env.Server.Users.Disable(ctx, access.CLI, u.ID); err != nil {
			t.Fatal(err)
		}
		_, page := e.signIn(t, &mockoidc.MockUser{Subject: "1", Email: "ann@acme.test", EmailVerified: true}, http.StatusForbidden)
		if !strings.Contains(page, "Your account is disabled") {
			t.Fatalf("a disabled user was not refused:\n%s", page)
		}
	})

	t.Run("an answer that does not match the login begun is refused", func(t *testing.T) {
		c := browserless(t)
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, err := c.Get(e.start)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		auth, _ := url.Parse(resp.Header.Get("Location"))
		if auth.Query().Get("code_challenge_method") != "S256" || auth.Query().Get("nonce") == "" || auth.Query().Get("state") == "" {
			t.Fatalf("authorization request %s lacks PKCE, nonce or state", auth)
		}
		callback := strings.Replace(e.start, "/login/sso/", "/login/sso/", 1) + "/callback"
		for name, q := range map[string]string{
			"wrong state":      "state=forged&code=x",
			"provider's error": "error=access_denied&state=" + url.QueryEscape(auth.Query().Get("state")),
		} {
			page := get(t, c, callback+"?"+q, http.StatusForbidden)
			if !strings.Contains(page, `role="alert"`) {
				t.Errorf("%s: no message on the login page:\n%s", name, page)
			}
		}
		// Without the cookie of the login begun.
		if page := get(t, browserless(t), callback+"?state="+url.QueryEscape(auth.Query().Get("state"))+"&code=x", http.StatusForbidden); !strings.Contains(page, "started in another browser") {
			t.Errorf("no cookie: %s", page)
		}
		events, err := e.env.Store.ListAudit(ctx, store.AuditFilter{Action: "login.failed", Limit: 50})
		if err != nil || len(events) < 3 {
			t.Errorf("login.failed events = %d, %v; want one per refusal", len(events), err)
		}
	})

	t.Run("an ID token for another nonce is refused", func(t *testing.T) {
		e.forgeNonce.Store(true)
		defer e.forgeNonce.Store(false)
		_, page := e.signIn(t, &mockoidc.MockUser{Subject: "5", Email: "dan@acme.test", EmailVerified: true}, http.StatusForbidden)
		if !strings.Contains(page, "(nonce)") {
			t.Fatalf("a token for another nonce was not refused:\n%s", page)
		}
		if _, err := e.env.Store.GetUserByEmail(ctx, "dan@acme.test"); err == nil {
			t.Fatal("a refused login created its user")
		}
	})

	t.Run("an ID token for another client is refused", func(t *testing.T) {
		e.forgeAudience.Store(true)
		_, page := e.signIn(t, &mockoidc.MockUser{Subject: "6", Email: "eli@acme.test", EmailVerified: true}, http.StatusForbidden)
		e.forgeAudience.Store(false)
		if !strings.Contains(page, "ID token was not accepted") {
			t.Fatalf("a token for another client was not refused:\n%s", page)
		}
		if _, err := e.env.Store.GetUserByEmail(ctx, "eli@acme.test"); err == nil {
			t.Fatal("a refused login created its user")
		}
		// The same person, with a token for Sapient, comes in.
		if _, page := e.signIn(t, &mockoidc.MockUser{Subject: "6", Email: "eli@acme.test", EmailVerified: true}, http.StatusOK); strings.Contains(page, `role="alert"`) {
			t.Fatalf("the login with a token for Sapient was refused:\n%s", page)
		}
	})

	t.Run("Add provider refuses a wrong issuer and people who are not Admins", func(t *testing.T) {
		body := post(t, e.admin, e.env.URL+"/admin/sso", url.Values{"name": {"Wrong"}, "issuer": {e.idp.Issuer() + "/elsewhere"},
			"client_id": {"x"}, "client_secret": {"y"}, "admin_emails": {"a@example.com"}}, http.StatusUnprocessableEntity)
		if !strings.Contains(body, "discovery document could not be read") {
			t.Fatalf("a wrong issuer was not refused clearly:\n%s", body)
		}
		body = post(t, e.admin, e.env.URL+"/admin/sso", url.Values{"name": {"Plain"}, "issuer": {"http://idp.example.com"},
			"client_id": {"x"}, "client_secret": {"y"}, "admin_emails": {"a@example.com"}}, http.StatusUnprocessableEntity)
		if !strings.Contains(body, "https") {
			t.Fatalf("an http issuer elsewhere than this machine was not refused:\n%s", body)
		}
		e.env.User(t, "carol@acme.test", testPassword, store.RoleCustomer, e.acme.ID)
		c := browserless(t)
		post(t, c, e.env.URL+"/login", url.Values{"email": {"carol@acme.test"}, "password": {testPassword}}, http.StatusOK)
		post(t, c, e.env.URL+"/admin/sso", url.Values{"name": {"Mine"}, "issuer": {e.idp.Issuer()}, "client_id": {"x"},
			"client_secret": {"y"}, "admin_emails": {"carol@acme.test"}}, http.StatusForbidden)
		if list, _ := e.env.Store.ListSSOProviders(ctx); len(list) != 1 {
			t.Fatalf("%d providers, want only the Admin's", len(list))
		}
	})
}

// browserless is an HTTP client that keeps cookies and follows redirects,
// as a browser without JavaScript does.
func browserless(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar}
}

func get(t *testing.T, c *http.Client, u string, want int) string {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	return read(t, resp, want)
}

func post(t *testing.T, c *http.Client, u string, form url.Values, want int) string {
	t.Helper()
	resp, err := c.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	return read(t, resp, want)
}

func read(t *testing.T, resp *http.Response, want int) string {
	t.Helper()
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d, want %d:\n%s", resp.Request.Method, resp.Request.URL, resp.StatusCode, want, b)
	}
	return string(b)
}
