package bearer_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"sapient.dev/sapient/bearer"
)

// issuer is a stand-in for Sapient that counts the key set's fetches and
// answers what the test sets: the keys it publishes, whether the key set
// fails, and the introspection answer.
type issuer struct {
	*httptest.Server
	fetches atomic.Int64

	mu         sync.Mutex
	published  []string // kids
	keys       map[string]*ecdsa.PrivateKey
	failKeys   bool
	introspect string
}

func newIssuer(t *testing.T) *issuer {
	t.Helper()
	is := &issuer{keys: map[string]*ecdsa.PrivateKey{}, introspect: `{"active":true}`}
	for _, kid := range []string{"k1", "k2"} {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		is.keys[kid] = k
	}
	is.published = []string{"k1"}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{
			"issuer": is.URL, "jwks_uri": is.URL + "/jwks", "introspection_endpoint": is.URL + "/introspect",
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		is.fetches.Add(1)
		is.mu.Lock()
		defer is.mu.Unlock()
		if is.failKeys {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		var set jose.JSONWebKeySet
		for _, kid := range is.published {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: &is.keys[kid].PublicKey, KeyID: kid, Algorithm: "ES256", Use: "sig"})
		}
		json.NewEncoder(w).Encode(set)
	})
	mux.HandleFunc("POST /introspect", func(w http.ResponseWriter, r *http.Request) {
		is.mu.Lock()
		defer is.mu.Unlock()
		w.Write([]byte(is.introspect))
	})
	is.Server = httptest.NewServer(mux)
	t.Cleanup(is.Close)
	return is
}

func (is *issuer) set(f func(is *issuer)) {
	is.mu.Lock()
	defer is.mu.Unlock()
	f(is)
}

// token signs an access token with the key kid, valid for an hour from now.
func (is *issuer) token(t *testing.T, kid string, now time.Time) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: is.keys[kid], KeyID: kid}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	claims, _ := json.Marshal(bearer.Claims{Issuer: is.URL, Subject: "sapci_x", Audience: is.URL, ExpiresAt: now.Add(time.Hour).Unix(),
		IssuedAt: now.Unix(), JTI: "j", ClientID: "sapci_x", Scope: "a", OrgID: "org_1"})
	jws, err := signer.Sign(claims)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// verifyAll verifies raw from n goroutines at once and returns how many
// were accepted.
func verifyAll(t *testing.T, v *bearer.Verifier, raw string, n int) int {
	t.Helper()
	var wg sync.WaitGroup
	var ok atomic.Int64
	for range n {
		wg.Go(func() {
			if _, err := v.Verify(t.Context(), raw); err == nil {
				ok.Add(1)
			} else if !errors.Is(err, bearer.ErrInvalidToken) {
				t.Errorf("Verify: %v", err)
			}
		})
	}
	wg.Wait()
	return int(ok.Load())
}

// TestKeyRefetchSingleFlight: tokens naming a key the verifier does not
// know make it fetch the key set again, but requests at the same time
// share one fetch, and there is at most one fetch every ten seconds,
// whether it succeeds or not; a key published meanwhile is found.
func TestKeyRefetchSingleFlight(t *testing.T) {
	is := newIssuer(t)
	clk := &clock{t: time.Now()}
	v, err := bearer.New(t.Context(), bearer.Config{Issuer: is.URL, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if n := is.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches at start, want 1", n)
	}
	known, unknown := is.token(t, "k1", clk.Now()), is.token(t, "k2", clk.Now())
	if verifyAll(t, v, known, 20) != 20 {
		t.Fatal("a token signed by the published key was refused")
	}

	clk.Add(11 * time.Second)
	if verifyAll(t, v, unknown, 50) != 0 {
		t.Fatal("a token of an unpublished key was accepted")
	}
	if n := is.fetches.Load(); n != 2 {
		t.Fatalf("50 requests with an unknown key at once made %d fetches, want 1", n-1)
	}
	verifyAll(t, v, unknown, 50)
	if n := is.fetches.Load(); n != 2 {
		t.Fatalf("requests within ten seconds of a fetch fetched again: %d fetches", n)
	}

	// The issuer is down: still one attempt per interval.
	is.set(func(is *issuer) { is.failKeys = true })
	clk.Add(11 * time.Second)
	for range 20 {
		v.Verify(t.Context(), unknown)
	}
	if n := is.fetches.Load(); n != 3 {
		t.Fatalf("20 requests while the key set fails made %d fetches, want 1", n-2)
	}
	if _, err := v.Verify(t.Context(), known); err != nil {
		t.Fatalf("a known key stopped working while the issuer is down: %v", err)
	}

	// A key published later is found at the next fetch.
	is.set(func(is *issuer) { is.failKeys, is.published = false, []string{"k1", "k2"} })
	clk.Add(11 * time.Second)
	if n := verifyAll(t, v, unknown, 20); n != 20 {
		_, err := v.Verify(t.Context(), unknown)
		t.Fatalf("a newly published key was not found: %d accepted, %d fetches, %v", n, is.fetches.Load(), err)
	}
	if n := is.fetches.Load(); n != 4 {
		t.Fatalf("%d fetches, want 4", n)
	}
}

// TestBoundedBodies: the verifier reads at most a bounded number of bytes
// of every answer; a longer one is an error (503 from Require), not a
// decoded answer.
func TestBoundedBodies(t *testing.T) {
	is := newIssuer(t)
	clk := &clock{t: time.Now()}
	v, err := bearer.New(t.Context(), bearer.Config{Issuer: is.URL, Now: clk.Now,
		IntrospectionClientID: "sapci_gateway", IntrospectionClientSecret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	tok := is.token(t, "k1", clk.Now())
	if _, err := v.Verify(t.Context(), tok); err != nil {
		t.Fatalf("small introspection answer: %v", err)
	}
	is.set(func(is *issuer) { is.introspect = `{"active":true,"padding":"` + strings.Repeat("x", 2<<20) + `"}` })
	if _, err := v.Verify(t.Context(), tok); err == nil || errors.Is(err, bearer.ErrInvalidToken) {
		t.Fatalf("a 2 MiB introspection answer: %v, want an error that is not an invalid token", err)
	}
	h := v.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusServiceUnavailable {
		t.Errorf("Require with a 2 MiB introspection answer: %d, want 503", w.Code)
	}

	// A key set over its bound is refused at start.
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/.well-known/oauth-authorization-server":
			json.NewEncoder(w).Encode(map[string]string{"issuer": "http://" + r.Host, "jwks_uri": "http://" + r.Host + "/jwks"})
		default:
			w.Write([]byte(`{"keys":[],"padding":"` + strings.Repeat("x", 2<<20) + `"}`))
		}
	}))
	t.Cleanup(big.Close)
	if _, err := bearer.New(t.Context(), bearer.Config{Issuer: big.URL}); err == nil {
		t.Error("New accepted a 2 MiB key set")
	}
}
