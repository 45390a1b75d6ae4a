package keys

import (
	"crypto/rand"
	"log/slog"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"sapient.dev/sapient/internal/store/storetest"
)

// claims is the size and shape of an access token's payload.
var claims = []byte(`{"iss":"http://127.0.0.1:8080","sub":"sapci_aaaaaaaaaaaaaaaaaaaaaaaaaa","aud":"http://127.0.0.1:8080",` +
	`"exp":1795632973,"iat":1795629373,"jti":"JZslESkC5dD5M-i4vnA6Sg","client_id":"sapci_aaaaaaaaaaaaaaaaaaaaaaaaaa",` +
	`"scope":"audit:read credentials:read credentials:write usage:read","org_id":"org_abcdefghijklmnop"}`)

// BenchmarkSign signs one access token with each algorithm.
func BenchmarkSign(b *testing.B) {
	for _, alg := range Algorithms {
		b.Run(string(alg), func(b *testing.B) {
			m := benchManager(b, alg)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Sign(claims); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func benchManager(b *testing.B, alg jose.SignatureAlgorithm) *Manager {
	kek, err := NewKEK("benchmark key-encryption secret, long enough")
	if err != nil {
		b.Fatal(err)
	}
	m := &Manager{
		Store: storetest.New(b, storetest.Backends()[0]), KEK: kek, Algorithm: alg,
		Rotation: 30 * 24 * time.Hour, PublishLead: 15 * time.Minute, TokenTTL: time.Hour,
		Now: time.Now, Rand: rand.Reader, Logger: slog.New(slog.DiscardHandler),
	}
	if err := m.Init(b.Context()); err != nil {
		b.Fatal(err)
	}
	return m
}
