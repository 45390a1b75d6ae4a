package server_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/org"
	"sapient.dev/sapient/internal/scope"
	"sapient.dev/sapient/internal/server"
	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
)

// instance starts a second instance of env on st, a store of env's
// database.
func instance(t *testing.T, env *servertest.Env, st store.Store) *server.Server {
	t.Helper()
	cfg := server.Config{Store: st, KEK: env.KEK}
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
	w := httptest.NewRecorder()
	srv.Handler().ServeHTTP(w, servertest.TokenRequest(c))
	var tok struct {
		Scope string `json:"scope"`
	}
	if w.Code == 200 {
		if err := json.Unmarshal(w.Body.Bytes(), &tok); err != nil {
			t.Fatalf("token: %v", err)
		}
	}
	return w.Code, strings.Fields(tok.Scope)
}

// withinASecond polls until done holds, or fails once a second (and a
// little slack for a busy machine) has passed: instances apply changes
// made elsewhere within a second.
func withinASecond(t *testing.T, what string, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Second + 300*time.Millisecond)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within a second", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// revoked reports whether srv refuses tokens for c.
func revoked(t *testing.T, srv *server.Server, c credential.Created) func() bool {
	return func() bool {
		code, _ := token(t, srv, c)
		return code == 401
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
// held up still applies a revocation made elsewhere within a second.
func TestRevocationSeenWhileWritesWait(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			env := servertest.New(t, b)
			cred := env.Credential(t, env.Org(t, "Acme").ID, "billing", nil)
			st := &blockedUsage{Store: storetest.Open(t, env.DatabaseURL), waiting: make(chan struct{}, 1), release: make(chan struct{})}
			srv := instance(t, env, st)
			t.Cleanup(func() { close(st.release) }) // before the instance closes, which writes what it holds

			if code, _ := token(t, srv, cred); code != 200 {
				t.Fatalf("token: %d", code)
			}
			select {
			case <-st.waiting:
			case <-time.After(5 * time.Second):
				t.Fatal("the instance never wrote its usage")
			}
			if _, err := env.Server.Credentials.Revoke(t.Context(), access.CLI, cred.Credential.ClientID); err != nil {
				t.Fatal(err)
			}
			withinASecond(t, "revocation applied", revoked(t, srv, cred))
		})
	}
}

// slowUpdates delays every credential and organisation update before the
// store reads the row, as UpdateCredential's usage fold, or a wait for
// SQLite's write lock behind a fold, does with a million credentials in
// use.
type slowUpdates struct {
	store.Store
	delay time.Duration
}

func (s slowUpdates) InTx(ctx context.Context, fn func(store.Store) error) error {
	return s.Store.InTx(ctx, func(tx store.Store) error { return fn(slowUpdates{tx, s.delay}) })
}

func (s slowUpdates) UpdateCredential(ctx context.Context, clientID string, update func(store.Credential) (store.Credential, error)) (store.Credential, error) {
	time.Sleep(s.delay)
	return s.Store.UpdateCredential(ctx, clientID, update)
}

func (s slowUpdates) UpdateOrg(ctx context.Context, id string, update func(store.Org) (store.Org, error)) (store.Org, error) {
	time.Sleep(s.delay)
	return s.Store.UpdateOrg(ctx, id, update)
}

// TestSlowChangesSeenElsewhere: a change whose transaction waited longer
// than the instances' polling overlap (5 s) before it could change the
// row is still applied by another instance within a second of its commit:
// it is stamped when it changes the row, not when it was asked for. A
// credential revoked, and a scope withdrawn from an organisation.
func TestSlowChangesSeenElsewhere(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Run("revocation", func(t *testing.T) {
				t.Parallel()
				env := servertest.New(t, b)
				cred := env.Credential(t, env.Org(t, "Acme").ID, "billing", nil)
				slow := instance(t, env, slowUpdates{storetest.Open(t, env.DatabaseURL), 6 * time.Second})
				if code, _ := token(t, env.Server, cred); code != 200 {
					t.Fatalf("token: %d", code)
				}
				if _, err := slow.Credentials.Revoke(t.Context(), access.CLI, cred.Credential.ClientID); err != nil {
					t.Fatal(err)
				}
				withinASecond(t, "revocation applied", revoked(t, env.Server, cred))
			})
			t.Run("scope withdrawn", func(t *testing.T) {
				t.Parallel()
				env := servertest.New(t, b)
				acme := env.Org(t, "Acme")
				cred := env.Credential(t, acme.ID, "billing", nil)
				if code, scopes := token(t, env.Server, cred); code != 200 || !slices.Contains(scopes, scope.UsageRead) {
					t.Fatalf("token: %d, scopes %q, want %s among them", code, scopes, scope.UsageRead)
				}
				slowStore := slowUpdates{storetest.Open(t, env.DatabaseURL), 6 * time.Second}
				if _, err := org.Withdraw(t.Context(), slowStore, access.CLI, acme.ID, []string{scope.UsageRead}, time.Now); err != nil {
					t.Fatal(err)
				}
				withinASecond(t, "scope withdrawn", func() bool {
					code, scopes := token(t, env.Server, cred)
					return code == 200 && !slices.Contains(scopes, scope.UsageRead)
				})
			})
		})
	}
}
