package server_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/keys"
	"sapient.dev/sapient/internal/org"
	"sapient.dev/sapient/internal/scope"
	"sapient.dev/sapient/internal/server"
	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
	"sapient.dev/sapient/internal/user"
)

// instance starts a second instance of env on st, a store of env's
// database.
func instance(t *testing.T, env *servertest.Env, st store.Store) *server.Server {
	t.Helper()
	cfg := server.Config{Store: st, KEK: env.KEK, Password: user.CheapPasswordParams}
	servertest.ForBenchmarks(&cfg) // quiet logs, limits out of the way
	srv, err := server.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// token asks srv for a token for c: the status, and the scopes granted.
func token(t *testing.T, srv *server.Server, c credential.Created) (int, []string) {
	t.Helper()
	code, tok := tokenResponse(t, srv, c)
	return code, strings.Fields(tok.Scope)
}

type tokenAnswer struct {
	AccessToken string `json:"access_token"`
	Scope       string `json:"scope"`
}

func tokenResponse(t *testing.T, srv *server.Server, c credential.Created) (int, tokenAnswer) {
	t.Helper()
	w := httptest.NewRecorder()
	srv.Handler().ServeHTTP(w, servertest.TokenRequest(c))
	var tok tokenAnswer
	if w.Code == 200 {
		if err := json.Unmarshal(w.Body.Bytes(), &tok); err != nil {
			t.Fatalf("token: %v", err)
		}
	}
	return w.Code, tok
}

// me calls /api/v1/me on srv with a bearer token and returns the status.
func me(t *testing.T, srv *server.Server, bearer string) int {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/api/v1/me", nil)
	r.Header.Set("Authorization", "Bearer "+bearer)
	w := httptest.NewRecorder()
	srv.Handler().ServeHTTP(w, r)
	return w.Code
}

// step takes one Sync step on each instance, as their background loops do
// every SyncInterval (250 ms) and, on PostgreSQL, as soon as a change is
// announced.
func step(t *testing.T, envs ...*servertest.Env) {
	t.Helper()
	for _, e := range envs {
		if err := e.Server.Sync(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
}

// skewed returns a standing clock d away from the others'.
func skewed(d time.Duration) *servertest.Clock {
	c := servertest.NewClock()
	c.Add(d)
	return c
}

// TestChangesSeenWhateverTheClocks: two instances and a command-line
// process whose clocks are ten minutes apart learn of every change the
// others make in the next step of their sync: revocations of credentials
// and tokens, a secret rolled with no overlap, a scope withdrawn, an
// emergency key rotation and a retired key. Instances follow the change
// log's order, not timestamps; with timestamps, a change made on a machine
// whose clock is behind is older than anything a machine ahead of it
// polls for, and is never seen there.
func TestChangesSeenWhateverTheClocks(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		behind, ahead := skewed(-5*time.Minute), skewed(5*time.Minute)
		a := servertest.New(t, b, servertest.WithClock(behind), servertest.WithSyncInterval(time.Hour))
		z := a.Join(t, servertest.WithClock(ahead))
		// The command-line process: its own connection and clock.
		cliStore := storetest.Open(t, a.DatabaseURL)
		cli := &credential.Service{Store: cliStore, Now: behind.Now, Rand: rand.Reader}
		acme := a.Org(t, "Acme")

		t.Run("credential revoked from a clock behind", func(t *testing.T) {
			cred := a.Credential(t, acme.ID, "revoked-by-cli", nil)
			for _, e := range []*servertest.Env{a, z} {
				if code, _ := token(t, e.Server, cred); code != 200 {
					t.Fatalf("token before revocation: %d", code)
				}
			}
			_, tok := tokenResponse(t, z.Server, cred)
			if _, err := cli.Revoke(t.Context(), access.CLI, cred.Credential.ClientID); err != nil {
				t.Fatal(err)
			}
			step(t, a, z)
			for _, e := range []*servertest.Env{a, z} {
				if code, _ := token(t, e.Server, cred); code != 401 {
					t.Errorf("token after revocation: %d, want 401", code)
				}
			}
			if code := me(t, z.Server, tok.AccessToken); code != 401 {
				t.Errorf("/api/v1/me with a token of the revoked credential: %d, want 401", code)
			}
		})
		t.Run("credential revoked from a clock ahead", func(t *testing.T) {
			cred := a.Credential(t, acme.ID, "revoked-ahead", nil)
			_, tok := tokenResponse(t, a.Server, cred)
			if _, err := z.Server.Credentials.Revoke(t.Context(), access.CLI, cred.Credential.ClientID); err != nil {
				t.Fatal(err)
			}
			step(t, a)
			if code := me(t, a.Server, tok.AccessToken); code != 401 {
				t.Errorf("/api/v1/me after revocation: %d, want 401", code)
			}
		})
		t.Run("secret rolled with no overlap", func(t *testing.T) {
			cred := a.Credential(t, acme.ID, "rolled", nil)
			if code, _ := token(t, z.Server, cred); code != 200 {
				t.Fatalf("token before the roll: %d", code)
			}
			rolled, err := cli.Roll(t.Context(), access.CLI, cred.Credential.ClientID, 0)
			if err != nil {
				t.Fatal(err)
			}
			step(t, a, z)
			for _, e := range []*servertest.Env{a, z} {
				if code, _ := token(t, e.Server, cred); code != 401 {
					t.Errorf("old secret after the roll: %d, want 401", code)
				}
				if code, _ := token(t, e.Server, rolled); code != 200 {
					t.Errorf("new secret after the roll: %d, want 200", code)
				}
			}
		})
		t.Run("scope withdrawn", func(t *testing.T) {
			beta := a.Org(t, "Beta")
			cred := a.Credential(t, beta.ID, "reports", nil)
			if code, scopes := token(t, z.Server, cred); code != 200 || !slices.Contains(scopes, scope.UsageRead) {
				t.Fatalf("token: %d, scopes %q, want %s among them", code, scopes, scope.UsageRead)
			}
			if _, err := org.Withdraw(t.Context(), cliStore, access.CLI, beta.ID, []string{scope.UsageRead}, behind.Now); err != nil {
				t.Fatal(err)
			}
			step(t, z)
			if code, scopes := token(t, z.Server, cred); code != 200 || slices.Contains(scopes, scope.UsageRead) {
				t.Errorf("token after the withdrawal: %d, scopes %q, want %s gone", code, scopes, scope.UsageRead)
			}
		})
		t.Run("token revoked", func(t *testing.T) {
			cred := a.Credential(t, acme.ID, "token-revoked", nil)
			_, tok := tokenResponse(t, a.Server, cred)
			if code := me(t, z.Server, tok.AccessToken); code != 200 {
				t.Fatalf("/api/v1/me before revocation: %d", code)
			}
			form := url.Values{"token": {tok.AccessToken}}
			r := httptest.NewRequest(http.MethodPost, "/connect/revocation", strings.NewReader(form.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.SetBasicAuth(cred.Credential.ClientID, cred.Secret)
			w := httptest.NewRecorder()
			a.Server.Handler().ServeHTTP(w, r)
			if w.Code != 200 {
				t.Fatalf("revocation: %d %s", w.Code, w.Body)
			}
			step(t, z)
			if code := me(t, z.Server, tok.AccessToken); code != 401 {
				t.Errorf("/api/v1/me with the revoked token elsewhere: %d, want 401", code)
			}
		})
		t.Run("emergency rotation and a retired key", func(t *testing.T) {
			cred := a.Credential(t, acme.ID, "keys", nil)
			_, before := tokenResponse(t, a.Server, cred)
			// The command line's clock is ahead: "now" there has not come
			// yet for instance a.
			m := &keys.Manager{Store: cliStore, KEK: a.KEK, Algorithm: "ES256", Now: ahead.Now, Rand: rand.Reader, Actor: access.CLI}
			if err := m.Init(t.Context()); err != nil {
				t.Fatal(err)
			}
			kid, _, err := m.Rotate(t.Context()) // PublishLead 0: --activate-in 0
			if err != nil {
				t.Fatal(err)
			}
			step(t, a, z)
			for _, e := range []*servertest.Env{a, z} {
				if got := e.Server.Keys.SigningKeyID(); got != kid {
					t.Errorf("after an emergency rotation an instance signs with %s, want %s", got, kid)
				}
			}
			if code := me(t, z.Server, before.AccessToken); code != 200 {
				t.Errorf("a token of the previous key after a rotation: %d, want 200", code)
			}
			_, after := tokenResponse(t, z.Server, cred)
			replacement, err := m.Retire(t.Context(), kid)
			if err != nil || replacement == "" {
				t.Fatalf("Retire(the signing key) = %q, %v; want a new key", replacement, err)
			}
			step(t, a, z)
			for _, e := range []*servertest.Env{a, z} {
				if code := me(t, e.Server, after.AccessToken); code != 401 {
					t.Errorf("a token of the retired key: %d, want 401", code)
				}
				if jwks, _ := e.Server.Keys.JWKS(); strings.Contains(string(jwks), kid) {
					t.Errorf("the retired key is still published")
				}
				if got := e.Server.Keys.SigningKeyID(); got != replacement {
					t.Errorf("signing with %s after the retirement, want %s", got, replacement)
				}
				_, fresh := tokenResponse(t, e.Server, cred)
				if code := me(t, e.Server, fresh.AccessToken); code != 200 {
					t.Errorf("a token of the replacement key: %d, want 200", code)
				}
			}
		})
	})
}

// TestAnnouncedChangesApplyAtOnce: on PostgreSQL every committed change is
// announced, and an instance applies it without waiting for its poll (set
// here to an hour).
func TestAnnouncedChangesApplyAtOnce(t *testing.T) {
	a := servertest.New(t, storetest.Backend{Name: "postgres", URL: storetest.PostgresURL})
	z := a.Join(t, servertest.WithSyncInterval(time.Hour))
	cred := a.Credential(t, a.Org(t, "Acme").ID, "billing", nil)
	_, tok := tokenResponse(t, z.Server, cred)
	if _, err := a.Server.Credentials.Revoke(t.Context(), access.CLI, cred.Credential.ClientID); err != nil {
		t.Fatal(err)
	}
	// Bounded by the test's patience, not by a claim about speed: with
	// the poll an hour away, only the announcement can make it happen.
	deadline := time.Now().Add(10 * time.Second)
	for me(t, z.Server, tok.AccessToken) != 401 {
		if time.Now().After(deadline) {
			t.Fatal("the revocation was not applied without a poll")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// blockedUsage is a store whose usage writes wait until released, as
// writes wait behind a usage fold that holds SQLite's write lock.
type blockedUsage struct {
	store.Store
	waiting chan struct{}
	release chan struct{}
}

func (b *blockedUsage) AddUsage(ctx context.Context, buckets []store.UsageBucket) error {
	select {
	case b.waiting <- struct{}{}:
	default:
	}
	select {
	case <-b.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return b.Store.AddUsage(ctx, buckets)
}

// TestRevocationSeenWhileWritesWait: an instance whose usage writes are
// held up still applies a revocation made elsewhere: a sync step only
// reads.
func TestRevocationSeenWhileWritesWait(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		env := servertest.New(t, b)
		cred := env.Credential(t, env.Org(t, "Acme").ID, "billing", nil)
		st := &blockedUsage{Store: storetest.Open(t, env.DatabaseURL), waiting: make(chan struct{}, 1), release: make(chan struct{})}
		srv := instance(t, env, st)
		t.Cleanup(func() { close(st.release) }) // before the instance closes, which writes what it holds

		if code, _ := token(t, srv, cred); code != 200 {
			t.Fatalf("token: %d", code)
		}
		<-st.waiting // the flush of every second waits from now on
		if _, err := env.Server.Credentials.Revoke(t.Context(), access.CLI, cred.Credential.ClientID); err != nil {
			t.Fatal(err)
		}
		if err := srv.Sync(t.Context()); err != nil {
			t.Fatal(err)
		}
		if code, _ := token(t, srv, cred); code != 401 {
			t.Errorf("token after revocation: %d, want 401", code)
		}
	})
}

// TestNewCredentialJudgedWhole: a credential created by another process
// with a scope its organisation was granted a moment before is judged
// against an organisation at least as new as itself, when an instance that
// has not applied either change yet is asked for a token at once: it reads
// the organisation again with the credential it had not seen.
func TestNewCredentialJudgedWhole(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		env := servertest.New(t, b, servertest.WithSyncInterval(time.Hour)) // applies nothing by itself
		acme := env.Org(t, "Acme")
		warm := env.Credential(t, acme.ID, "warm", nil)
		if code, _ := token(t, env.Server, warm); code != 200 { // the organisation is in memory now
			t.Fatalf("token: %d", code)
		}
		cliStore := storetest.Open(t, env.DatabaseURL)
		cli := &credential.Service{Store: cliStore, Now: time.Now, Rand: rand.Reader}
		for i := range 100 {
			name := fmt.Sprintf("shipments%d:read", i)
			if _, err := scope.Create(t.Context(), cliStore, access.CLI, name, "", time.Now()); err != nil {
				t.Fatal(err)
			}
			if _, err := org.Grant(t.Context(), cliStore, access.CLI, acme.ID, []string{name}, time.Now); err != nil {
				t.Fatal(err)
			}
			c, err := cli.Create(t.Context(), access.CLI, credential.CreateRequest{OrgID: acme.ID, Name: fmt.Sprintf("c%d", i), Scopes: []string{name}})
			if err != nil {
				t.Fatal(err)
			}
			r := servertest.TokenRequest(c)
			body := url.Values{"grant_type": {"client_credentials"}, "scope": {name}}.Encode()
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader(body)), int64(len(body))
			w := httptest.NewRecorder()
			env.Server.Handler().ServeHTTP(w, r)
			if w.Code != 200 {
				t.Fatalf("attempt %d: token with the new scope: %d %s", i, w.Code, w.Body)
			}
		}
	})
}
