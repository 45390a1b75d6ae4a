package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// TestHeaderMatchesGoJOSE checks that the hand-written signer writes, for
// every algorithm, the protected header go-jose's Signer writes for the
// same key ID and typ, and a token go-jose verifies.
func TestHeaderMatchesGoJOSE(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	rs, _ := rsa.GenerateKey(rand.Reader, 2048)
	tests := []struct {
		alg jose.SignatureAlgorithm
		key crypto.Signer
	}{{jose.ES256, ec}, {jose.EdDSA, ed}, {jose.RS256, rs}}
	payload := []byte(`{"sub":"x"}`)
	for _, tt := range tests {
		for _, kid := range []string{"rn1vUZ3sAjaTQ0dU3qmvWbMPEm2hTSWW6cHyKqLfKvU", `odd "kid" <&> ☃`} {
			t.Run(string(tt.alg)+"/"+kid, func(t *testing.T) {
				ours, err := newJWSSigner(tt.alg, kid, tt.key)
				if err != nil {
					t.Fatal(err)
				}
				tok, err := ours.compact(payload)
				if err != nil {
					t.Fatal(err)
				}
				theirs, err := jose.NewSigner(jose.SigningKey{Algorithm: tt.alg, Key: jose.JSONWebKey{Key: tt.key, KeyID: kid}},
					(&jose.SignerOptions{}).WithType("at+jwt"))
				if err != nil {
					t.Fatal(err)
				}
				jws, err := theirs.Sign(payload)
				if err != nil {
					t.Fatal(err)
				}
				want, err := jws.CompactSerialize()
				if err != nil {
					t.Fatal(err)
				}
				if got, want := strings.Split(tok, ".")[0], strings.Split(want, ".")[0]; got != want {
					t.Errorf("header %s, go-jose writes %s", got, want)
				}
				parsed, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{tt.alg})
				if err != nil {
					t.Fatal(err)
				}
				if got, err := parsed.Verify(tt.key.Public()); err != nil || string(got) != string(payload) {
					t.Errorf("go-jose verifies %q, %v", got, err)
				}
			})
		}
	}
}
