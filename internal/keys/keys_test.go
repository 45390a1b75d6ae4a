package keys

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
)

const testSecret = "keys test key-encryption secret, long enough"

// t0 is the fixed start of the test clock.
var t0 = time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)

type clock struct{ now time.Time }

func (c *clock) Now() time.Time          { return c.now }
func (c *clock) Set(t time.Time)         { c.now = t }
func (c *clock) Advance(d time.Duration) { c.now = c.now.Add(d) }

func mustKEK(t *testing.T, secret string) *KEK {
	t.Helper()
	k, err := NewKEK(secret)
	if err != nil {
		t.Fatalf("NewKEK: %v", err)
	}
	return k
}

// newManager returns a Manager over s with rotation every 30 days, keys
// published 15 minutes before they sign, and one-hour tokens.
func newManager(s store.SigningKeys, kek *KEK, alg jose.SignatureAlgorithm, c *clock) *Manager {
	return &Manager{
		Store: s, KEK: kek, Algorithm: alg,
		Rotation: 30 * 24 * time.Hour, PublishLead: 15 * time.Minute, TokenTTL: time.Hour,
		Now: c.Now, Rand: rand.Reader, Logger: slog.New(slog.DiscardHandler),
	}
}

// signedKID signs a payload and returns the kid of the JWS header.
func signedKID(t *testing.T, m *Manager) string {
	t.Helper()
	tok, err := m.Sign([]byte(`{"sub":"x"}`))
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	jws, err := jose.ParseSignedCompact(tok, Algorithms)
	if err != nil {
		t.Fatalf("parse signed token: %v", err)
	}
	kid := jws.Signatures[0].Protected.KeyID
	if kid == "" {
		t.Fatal("signed token has no kid")
	}
	if got := m.SigningKeyID(); got != kid {
		t.Fatalf("SigningKeyID() = %s but the token names %s", got, kid)
	}
	return kid
}

// published returns the key IDs in the JWKS.
func published(t *testing.T, m *Manager) []string {
	t.Helper()
	raw, err := m.JWKS()
	if err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatalf("decode JWKS: %v", err)
	}
	var ids []string
	for _, k := range set.Keys {
		if !k.IsPublic() {
			t.Fatalf("JWKS holds a private key: %s", raw)
		}
		ids = append(ids, k.KeyID)
	}
	slices.Sort(ids)
	return ids
}

func stored(t *testing.T, s store.SigningKeys) []string {
	t.Helper()
	list, err := s.ListSigningKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, k := range list {
		ids = append(ids, k.ID)
	}
	slices.Sort(ids)
	return ids
}

func sorted(ids ...string) []string {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	return ids
}

func wantIDs(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s = %q, want %q", what, got, want)
	}
}

func TestNewKEK(t *testing.T) {
	tests := []struct {
		secret string
		ok     bool
	}{
		{"", false},
		{"short", false},
		{strings.Repeat("k", MinSecretLen-1), false},
		{strings.Repeat("k", MinSecretLen), true},
		{strings.Repeat("k", 200), true},
	}
	for _, tt := range tests {
		t.Run(tt.secret, func(t *testing.T) {
			k, err := NewKEK(tt.secret)
			if tt.ok != (err == nil) || tt.ok != (k != nil) {
				t.Fatalf("NewKEK(%d chars) = %v, %v; want ok=%v", len(tt.secret), k, err, tt.ok)
			}
		})
	}
}

func TestKEKSealOpen(t *testing.T) {
	k := mustKEK(t, testSecret)
	plain := []byte("private key bytes")
	sealed, err := k.seal(rand.Reader, plain, "kid-1")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, plain) || bytes.Contains(sealed, []byte(base64.StdEncoding.EncodeToString(plain))) {
		t.Fatal("sealed bytes contain the plain text")
	}
	if got, err := k.open(sealed, "kid-1"); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("open = %q, %v", got, err)
	}
	again, _ := k.seal(rand.Reader, plain, "kid-1")
	if bytes.Equal(again, sealed) {
		t.Fatal("sealing twice gave the same bytes: the nonce is not random")
	}
	raw, _ := base64.StdEncoding.DecodeString(string(sealed))
	raw[len(raw)-1] ^= 1
	tampered := []byte(base64.StdEncoding.EncodeToString(raw))
	tests := []struct {
		name   string
		kek    *KEK
		sealed []byte
		kid    string
	}{
		{"other KEK", mustKEK(t, strings.Repeat("x", 40)), sealed, "kid-1"},
		{"other kid", k, sealed, "kid-2"},
		{"tampered", k, tampered, "kid-1"},
		{"not base64", k, []byte("!!!"), "kid-1"},
		{"too short", k, []byte(base64.StdEncoding.EncodeToString([]byte("abc"))), "kid-1"},
		{"empty", k, nil, "kid-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.kek.open(tt.sealed, tt.kid); !errors.Is(err, ErrWrongKEK) {
				t.Fatalf("open = %v, want ErrWrongKEK", err)
			}
		})
	}
}

func TestLoadOrCreateKEKFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sapient.db.key")
	k1, err := LoadOrCreateKEKFile(path)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", st.Mode().Perm())
	}
	content, _ := os.ReadFile(path)
	if len(strings.TrimSpace(string(content))) < MinSecretLen {
		t.Fatalf("key file holds %d characters, want at least %d", len(strings.TrimSpace(string(content))), MinSecretLen)
	}

	// Reloading gives the same key: what one sealed, the other opens.
	k2, err := LoadOrCreateKEKFile(path)
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, content) {
		t.Fatal("reloading rewrote the key file")
	}
	sealed, err := k1.seal(rand.Reader, []byte("x"), "kid")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := k2.open(sealed, "kid"); err != nil || string(got) != "x" {
		t.Fatalf("reloaded KEK cannot open: %q, %v", got, err)
	}
	// A second file is a different key.
	k3, err := LoadOrCreateKEKFile(filepath.Join(dir, "other.key"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k3.open(sealed, "kid"); !errors.Is(err, ErrWrongKEK) {
		t.Fatalf("another key file opened the key: %v", err)
	}

	for _, mode := range []os.FileMode{0o640, 0o604, 0o644, 0o660, 0o666} {
		t.Run(mode.String(), func(t *testing.T) {
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadOrCreateKEKFile(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
				t.Fatalf("LoadOrCreateKEKFile(mode %v) = %v, want a refusal", mode, err)
			}
		})
	}
	if err := os.Chmod(path, 0o400); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKEKFile(path); err != nil {
		t.Fatalf("owner-only read-only file refused: %v", err)
	}

	short := filepath.Join(dir, "short.key")
	if err := os.WriteFile(short, []byte("too short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKEKFile(short); err == nil {
		t.Fatal("a key file with a short secret was accepted")
	}
	if _, err := LoadOrCreateKEKFile(filepath.Join(dir, "missing-dir", "x.key")); err == nil {
		t.Fatal("creating a key file in a missing folder succeeded")
	}
}

func TestParseAlgorithm(t *testing.T) {
	for _, s := range []string{"ES256", "EdDSA", "RS256"} {
		if a, err := ParseAlgorithm(s); err != nil || string(a) != s {
			t.Errorf("ParseAlgorithm(%q) = %q, %v", s, a, err)
		}
	}
	for _, s := range []string{"", "none", "HS256", "es256", "ES384", "PS256"} {
		if _, err := ParseAlgorithm(s); err == nil {
			t.Errorf("ParseAlgorithm(%q) succeeded", s)
		}
	}
}

// TestAlgorithms signs with each algorithm and verifies the result with
// the published JWK alone, as an outside verifier would.
func TestAlgorithms(t *testing.T) {
	for _, alg := range Algorithms {
		t.Run(string(alg), func(t *testing.T) {
			s := storetest.New(t, storetest.Backends()[0])
			m := newManager(s, mustKEK(t, testSecret), alg, &clock{now: t0})
			if err := m.Init(t.Context()); err != nil {
				t.Fatal(err)
			}
			payload := []byte(`{"iss":"https://sapient.test","sub":"sapci_x"}`)
			tok, err := m.Sign(payload)
			if err != nil {
				t.Fatal(err)
			}
			jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{alg})
			if err != nil {
				t.Fatalf("parse with only %s allowed: %v", alg, err)
			}
			h := jws.Signatures[0].Protected
			if h.Algorithm != string(alg) {
				t.Fatalf("alg header %q, want %s", h.Algorithm, alg)
			}
			if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "at+jwt" {
				t.Fatalf("typ header %q, want at+jwt", typ)
			}
			raw, err := m.JWKS()
			if err != nil {
				t.Fatal(err)
			}
			var set jose.JSONWebKeySet
			if err := json.Unmarshal(raw, &set); err != nil {
				t.Fatal(err)
			}
			found := set.Key(h.KeyID)
			if len(found) != 1 {
				t.Fatalf("kid %s found %d times in JWKS %s", h.KeyID, len(found), raw)
			}
			jwk := found[0]
			if !jwk.IsPublic() || jwk.Algorithm != string(alg) || jwk.Use != "sig" {
				t.Fatalf("published JWK: public %v alg %q use %q", jwk.IsPublic(), jwk.Algorithm, jwk.Use)
			}
			switch jwk.Key.(type) {
			case *ecdsa.PublicKey, ed25519.PublicKey, *rsa.PublicKey:
			default:
				t.Fatalf("published key is a %T", jwk.Key)
			}
			got, err := jws.Verify(jwk)
			if err != nil {
				t.Fatalf("verify with published JWK: %v", err)
			}
			if !bytes.Equal(got, payload) {
				t.Fatalf("payload %s, want %s", got, payload)
			}
			// The kid is the RFC 7638 thumbprint of the public key.
			thumb, _ := jwk.Thumbprint(crypto.SHA256)
			if base64.RawURLEncoding.EncodeToString(thumb) != h.KeyID {
				t.Fatal("kid is not the JWK thumbprint")
			}
			// A tampered token does not verify.
			parts := strings.Split(tok, ".")
			parts[1] = base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"someone else"}`))
			forged, err := jose.ParseSignedCompact(strings.Join(parts, "."), []jose.SignatureAlgorithm{alg})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := forged.Verify(jwk); err == nil {
				t.Fatal("tampered token verified")
			}
		})
	}
}

// TestPrivateKeysEncryptedAtRest reads the stored key and checks that
// neither the PKCS #8 DER of the private key nor its base64 appear in it.
func TestPrivateKeysEncryptedAtRest(t *testing.T) {
	for _, alg := range Algorithms {
		t.Run(string(alg), func(t *testing.T) {
			s := storetest.New(t, storetest.Backends()[0])
			m := newManager(s, mustKEK(t, testSecret), alg, &clock{now: t0})
			if err := m.Init(t.Context()); err != nil {
				t.Fatal(err)
			}
			list, err := s.ListSigningKeys(t.Context())
			if err != nil || len(list) != 1 {
				t.Fatalf("stored keys: %d, %v", len(list), err)
			}
			der, err := x509.MarshalPKCS8PrivateKey(m.loaded[0].private)
			if err != nil {
				t.Fatal(err)
			}
			sk := list[0]
			for _, form := range [][]byte{der, []byte(base64.StdEncoding.EncodeToString(der)), []byte(base64.RawURLEncoding.EncodeToString(der))} {
				if bytes.Contains(sk.PrivateKey, form) || bytes.Contains(sk.PublicKey, form) {
					t.Fatal("the stored key contains the private key in plain text")
				}
			}
			if bytes.Contains(sk.PrivateKey, der[len(der)-32:]) {
				t.Fatal("the stored key contains private key material")
			}
			var pub map[string]any
			if err := json.Unmarshal(sk.PublicKey, &pub); err != nil {
				t.Fatal(err)
			}
			for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
				if _, ok := pub[private]; ok {
					t.Fatalf("stored public JWK has private member %q", private)
				}
			}
		})
	}
}

func TestWrongKEK(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		s := storetest.New(t, b)
		c := &clock{now: t0}
		if err := newManager(s, mustKEK(t, testSecret), jose.ES256, c).Init(t.Context()); err != nil {
			t.Fatal(err)
		}
		same := newManager(s, mustKEK(t, testSecret), jose.ES256, c)
		if err := same.Reload(t.Context()); err != nil {
			t.Fatalf("Reload with the same KEK: %v", err)
		}
		other := newManager(s, mustKEK(t, "a different key-encryption secret, 32+"), jose.ES256, c)
		if err := other.Reload(t.Context()); !errors.Is(err, ErrWrongKEK) {
			t.Fatalf("Reload with another KEK = %v, want ErrWrongKEK", err)
		}
		if err := other.Init(t.Context()); !errors.Is(err, ErrWrongKEK) {
			t.Fatalf("Init with another KEK = %v, want ErrWrongKEK", err)
		}
		if got := stored(t, s); len(got) != 1 {
			t.Fatalf("Init with the wrong KEK changed the stored keys: %q", got)
		}
	})
}

func TestKEKFileAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	s := storetest.New(t, storetest.Backends()[0])
	c := &clock{now: t0}
	k1, err := LoadOrCreateKEKFile(filepath.Join(dir, "sapient.db.key"))
	if err != nil {
		t.Fatal(err)
	}
	m1 := newManager(s, k1, jose.ES256, c)
	if err := m1.Init(t.Context()); err != nil {
		t.Fatal(err)
	}
	k2, err := LoadOrCreateKEKFile(filepath.Join(dir, "sapient.db.key"))
	if err != nil {
		t.Fatal(err)
	}
	m2 := newManager(s, k2, jose.ES256, c)
	if err := m2.Init(t.Context()); err != nil {
		t.Fatalf("restart with the same key file: %v", err)
	}
	if signedKID(t, m2) != signedKID(t, m1) {
		t.Fatal("restart signs with another key")
	}
}

func TestRotation(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		ctx := t.Context()
		s := storetest.New(t, b)
		c := &clock{now: t0}
		m := newManager(s, mustKEK(t, testSecret), jose.ES256, c)

		if err := m.Init(ctx); err != nil {
			t.Fatal(err)
		}
		k1 := signedKID(t, m) // the first key signs at once
		wantIDs(t, "JWKS after Init", published(t, m), []string{k1})
		if err := m.Init(ctx); err != nil {
			t.Fatal(err)
		}
		wantIDs(t, "stored after second Init", stored(t, s), []string{k1})

		c.Advance(time.Hour)
		rotatedAt := c.Now()
		k2, activates, err := m.Rotate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if k2 == k1 || !activates.Equal(rotatedAt.Add(m.PublishLead)) {
			t.Fatalf("Rotate = %s activating %v", k2, activates)
		}
		// Published at once, but the first key still signs.
		wantIDs(t, "JWKS after Rotate", published(t, m), sorted(k1, k2))
		if _, ok := m.PublicKey(k2); !ok {
			t.Fatal("PublicKey does not find the new key")
		}
		if kid := signedKID(t, m); kid != k1 {
			t.Fatalf("right after Rotate %s signs, want the old %s", kid, k1)
		}
		c.Set(activates.Add(-time.Millisecond))
		if kid := signedKID(t, m); kid != k1 {
			t.Fatalf("just before activation %s signs, want %s", kid, k1)
		}
		// Another instance sharing the store publishes it too.
		peer := newManager(s, mustKEK(t, testSecret), jose.ES256, c)
		if err := peer.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		if _, ok := peer.PublicKey(k2); !ok {
			t.Fatal("another instance does not publish the new key")
		}
		if kid := signedKID(t, peer); kid != k1 {
			t.Fatalf("another instance signs with %s before activation", kid)
		}

		// From activation on, the new key signs; the old stays published.
		c.Set(activates)
		if kid := signedKID(t, m); kid != k2 {
			t.Fatalf("at activation %s signs, want %s", kid, k2)
		}
		if kid := signedKID(t, peer); kid != k2 {
			t.Fatalf("another instance: at activation %s signs, want %s", kid, k2)
		}
		if _, ok := m.PublicKey(k1); !ok {
			t.Fatal("old key unpublished at once: tokens it signed no longer verify")
		}

		// The old key stays until every token it signed has expired:
		// TokenTTL plus Leeway after it retired.
		retiredUntil := activates.Add(m.TokenTTL + Leeway)
		c.Set(retiredUntil)
		if err := m.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		wantIDs(t, "JWKS at TTL+Leeway", published(t, m), sorted(k1, k2))
		wantIDs(t, "stored at TTL+Leeway", stored(t, s), sorted(k1, k2))
		if _, ok := m.PublicKey(k1); !ok {
			t.Fatal("old key gone before every token it signed expired")
		}

		c.Set(retiredUntil.Add(time.Second))
		if err := m.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		wantIDs(t, "stored after TTL+Leeway", stored(t, s), []string{k2})
		wantIDs(t, "JWKS after TTL+Leeway", published(t, m), []string{k2})
		if _, ok := m.PublicKey(k1); ok {
			t.Fatal("PublicKey still finds the retired key")
		}
		if kid := signedKID(t, m); kid != k2 {
			t.Fatalf("%s signs after pruning, want %s", kid, k2)
		}
		// The peer learns of the deletion on its next Reload.
		if err := peer.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		wantIDs(t, "peer JWKS", published(t, peer), []string{k2})
	})
}

// TestEmergencyRotation: with no publish lead, the new key signs at once.
func TestEmergencyRotation(t *testing.T) {
	s := storetest.New(t, storetest.Backends()[0])
	c := &clock{now: t0}
	m := newManager(s, mustKEK(t, testSecret), jose.EdDSA, c)
	if err := m.Init(t.Context()); err != nil {
		t.Fatal(err)
	}
	k1 := signedKID(t, m)
	m.PublishLead = 0
	c.Advance(time.Second)
	k2, _, err := m.Rotate(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if kid := signedKID(t, m); kid != k2 {
		t.Fatalf("%s signs after an immediate rotation, want %s", kid, k2)
	}
	wantIDs(t, "JWKS", published(t, m), sorted(k1, k2))
}

func TestScheduledRotation(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		ctx := t.Context()
		s := storetest.New(t, b)
		c := &clock{now: t0}
		m := newManager(s, mustKEK(t, testSecret), jose.ES256, c)
		if err := m.Init(ctx); err != nil {
			t.Fatal(err)
		}
		k1 := signedKID(t, m)
		due := t0.Add(m.Rotation - m.PublishLead)

		// Ticks before the key is due change nothing.
		for _, at := range []time.Time{t0, t0.Add(time.Minute), t0.Add(24 * time.Hour), due.Add(-time.Second)} {
			c.Set(at)
			if err := m.Tick(ctx); err != nil {
				t.Fatal(err)
			}
			wantIDs(t, "stored at "+at.String(), stored(t, s), []string{k1})
		}

		c.Set(due)
		if err := m.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		ids := stored(t, s)
		if len(ids) != 2 {
			t.Fatalf("Tick when due left %d keys, want 2", len(ids))
		}
		k2 := ids[0]
		if k2 == k1 {
			k2 = ids[1]
		}
		if _, ok := m.PublicKey(k2); !ok {
			t.Fatal("scheduled key not published")
		}
		if kid := signedKID(t, m); kid != k1 {
			t.Fatalf("scheduled key signs before its time: %s", kid)
		}
		// Further ticks before it activates do not pile up keys.
		c.Set(due.Add(5 * time.Minute))
		if err := m.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		wantIDs(t, "stored after a second Tick", stored(t, s), sorted(k1, k2))

		// It signs from Rotation after the first key began.
		c.Set(t0.Add(m.Rotation).Add(-time.Millisecond))
		if kid := signedKID(t, m); kid != k1 {
			t.Fatalf("%s signs before the rotation time", kid)
		}
		c.Set(t0.Add(m.Rotation))
		if kid := signedKID(t, m); kid != k2 {
			t.Fatalf("%s signs at the rotation time, want %s", kid, k2)
		}

		// A late Tick (an instance that was down) still publishes a
		// new key PublishLead ahead rather than signing with it at once.
		c.Set(t0.Add(10 * m.Rotation))
		if err := m.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		if kid := signedKID(t, m); kid != k2 {
			t.Fatalf("a late Tick switched signing at once to %s", kid)
		}
		wantIDs(t, "JWKS after a late Tick", published(t, m), stored(t, s))
		if n := len(stored(t, s)); n != 2 {
			t.Fatalf("after a late Tick %d keys are stored, want the old one pruned and the new one", n)
		}
	})
}

// TestRotationDisabled: Rotation 0 never rotates on Tick.
func TestRotationDisabled(t *testing.T) {
	s := storetest.New(t, storetest.Backends()[0])
	c := &clock{now: t0}
	m := newManager(s, mustKEK(t, testSecret), jose.ES256, c)
	m.Rotation = 0
	if err := m.Init(t.Context()); err != nil {
		t.Fatal(err)
	}
	c.Advance(1000 * 24 * time.Hour)
	if err := m.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(stored(t, s)); n != 1 {
		t.Fatalf("%d keys with rotation disabled", n)
	}
}

// TestNoActiveKey: a store whose only key activates later signs from then
// on, not before.
func TestNoActiveKey(t *testing.T) {
	s := storetest.New(t, storetest.Backends()[0])
	c := &clock{now: t0}
	m := newManager(s, mustKEK(t, testSecret), jose.ES256, c)
	if _, err := m.create(t.Context(), t0.Add(time.Hour), access.System); err != nil {
		t.Fatal(err)
	}
	if err := m.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Sign([]byte("{}")); err == nil {
		t.Fatal("Sign succeeded with no active key")
	}
	c.Set(t0.Add(time.Hour))
	if _, err := m.Sign([]byte("{}")); err != nil {
		t.Fatalf("Sign once the key is active: %v", err)
	}
}

// TestKeyIDsReadAsArguments: no key ID begins with "-" or "_", so that
// "sapient keys retire KID" never reads one as a flag. One thumbprint in
// 32 does; of 200 keys, some would.
func TestKeyIDsReadAsArguments(t *testing.T) {
	for _, alg := range []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA} {
		m := &Manager{Algorithm: alg, Rand: rand.Reader}
		for range 200 {
			_, pub, err := m.generate()
			if err != nil {
				t.Fatal(err)
			}
			if c := pub.KeyID[0]; c == '-' || c == '_' {
				t.Fatalf("%s key ID %s begins with %q", alg, pub.KeyID, c)
			}
		}
	}
}
