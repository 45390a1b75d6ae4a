package credential_test

import (
	"crypto/rand"
	"testing"

	"sapient.dev/sapient/internal/credential"
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
