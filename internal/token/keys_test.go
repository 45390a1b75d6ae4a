package token

import (
	"crypto/rand"
	"log/slog"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"sapient.dev/sapient/internal/keys"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
)

// testKeys returns a key manager signing with alg, over a fresh SQLite
// store, and a verifier of its tokens.
func testKeys(t testing.TB, alg jose.SignatureAlgorithm) (*keys.Manager, *Verifier) {
	t.Helper()
	return testKeysOn(t, storetest.New(t, storetest.Backends()[0]), alg)
}

// testKeysOn is testKeys over the store st.
func testKeysOn(t testing.TB, st store.SigningKeys, alg jose.SignatureAlgorithm) (*keys.Manager, *Verifier) {
	t.Helper()
	kek, err := keys.NewKEK("token package test key-encryption secret")
	if err != nil {
		t.Fatal(err)
	}
	m := &keys.Manager{Store: st, KEK: kek, Algorithm: alg,
		Rotation: time.Hour, PublishLead: time.Minute, TokenTTL: time.Hour, Now: time.Now, Rand: rand.Reader,
		Logger: slog.New(slog.DiscardHandler)}
	if err := m.Init(t.Context()); err != nil {
		t.Fatal(err)
	}
	return m, &Verifier{Keys: m, Now: time.Now}
}
