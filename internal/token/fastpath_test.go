package token

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"sapient.dev/sapient/internal/keys"
)

// TestFastVerify checks that the fast path accepts Sapient's own tokens
// with every algorithm, as go-jose does, and leaves everything else to the
// go-jose path (TestCheckSignature checks that path refuses them).
func TestFastVerify(t *testing.T) {
	for _, alg := range keys.Algorithms {
		t.Run(string(alg), func(t *testing.T) {
			m, v := testKeys(t, alg)
			payload := []byte(`{"sub":"x"}`)
			raw, err := m.Sign(payload)
			if err != nil {
				t.Fatal(err)
			}
			got, kid, ok := v.fastVerify(t.Context(), raw)
			if !ok || string(got) != string(payload) || kid != m.SigningKeyID() {
				t.Fatalf("fastVerify(own token) = %q, %q, %v", got, kid, ok)
			}
			jws, err := jose.ParseSignedCompact(raw, allowedAlgs)
			if err != nil {
				t.Fatal(err)
			}
			k, _ := m.PublicKey(kid)
			if p, err := jws.Verify(k.Key); err != nil || string(p) != string(payload) {
				t.Fatalf("go-jose does not verify the token: %v", err)
			}

			parts := strings.Split(raw, ".")
			enc := base64.RawURLEncoding
			header := func(h string) string { return enc.EncodeToString([]byte(h)) }
			sig, _ := enc.DecodeString(parts[2])
			flipped := append([]byte(nil), sig...)
			flipped[len(flipped)/2] ^= 1
			others := map[string]string{
				"signature changed":  parts[0] + "." + parts[1] + "." + enc.EncodeToString(flipped),
				"payload changed":    parts[0] + "." + enc.EncodeToString([]byte(`{"sub":"y"}`)) + "." + parts[2],
				"padded":             raw + "==",
				"line break":         parts[0] + ".\n" + parts[1] + "." + parts[2],
				"four parts":         raw + ".x",
				"typ JWT":            header(`{"alg":"`+string(alg)+`","kid":"`+kid+`","typ":"JWT"}`) + "." + parts[1] + "." + parts[2],
				"other member order": header(`{"kid":"`+kid+`","alg":"`+string(alg)+`","typ":"at+jwt"}`) + "." + parts[1] + "." + parts[2],
				"unknown kid":        header(`{"alg":"`+string(alg)+`","kid":"nope","typ":"at+jwt"}`) + "." + parts[1] + "." + parts[2],
				"alg none":           header(`{"alg":"none","kid":"`+kid+`","typ":"at+jwt"}`) + "." + parts[1] + ".",
				"HS256":              header(`{"alg":"HS256","kid":"`+kid+`","typ":"at+jwt"}`) + "." + parts[1] + "." + parts[2],
			}
			// Every signature here leaves 4 bits of its last character
			// unused; setting one decodes, in Go's lenient decoder, to the
			// same signature.
			const b64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
			last := strings.IndexByte(b64url, parts[2][len(parts[2])-1])
			others["stray bits"] = parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-1] + string(b64url[last^1])
			others["carriage return"] = parts[0] + "." + parts[1][:4] + "\r" + parts[1][4:] + "." + parts[2]
			for name, tok := range others {
				if _, _, ok := v.fastVerify(t.Context(), tok); ok {
					t.Errorf("%s: the fast path accepted it", name)
				}
			}
		})
	}
}
