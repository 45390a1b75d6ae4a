package credential_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"runtime"
	"testing"
	"time"

	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/store"
)

// BenchmarkCheckSecret is the secret check of the token endpoint: format
// and checksum, SHA-256, constant-time comparison.
func BenchmarkCheckSecret(b *testing.B) {
	secret, err := credential.NewSecret(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	stored := credential.HashSecret(secret)
	b.ReportAllocs()
	for b.Loop() {
		if credential.CheckSecretFormat(secret) != nil || !credential.HashSecret(secret).Equal(stored) {
			b.Fatal("secret refused")
		}
	}
}

// BenchmarkCacheLookup is a credential's look-up on the token path with
// every credential in memory, among a thousand and among a million. It
// also reports the heap the cache takes per credential.
func BenchmarkCacheLookup(b *testing.B) {
	for _, n := range []int{1000, 1_000_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			ids := make([]string, n)
			for i := range ids {
				id, err := credential.NewClientID(rand.Reader)
				if err != nil {
					b.Fatal(err)
				}
				ids[i] = id
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			c := credential.NewCache(nil)
			hash := credential.HashSecret("s").String()
			for i, id := range ids {
				c.Put(store.Credential{ClientID: id, OrgID: fmt.Sprintf("org_%d", i/1000), Name: fmt.Sprintf("credential %d", i),
					SecretHash: hash, Scopes: []string{"usage:read"}, Version: 1})
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			now := time.Now()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := c.Lookup(context.Background(), ids[i%n], now); err != nil {
					b.Fatal(err)
				}
				i += 7919 // a prime: scattered over the map
			}
			b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(n), "heap-B/credential")
		})
	}
}
