package token

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"sapient.dev/sapient/internal/keys"
)

// TestCheckSignature checks that a token signed by the key manager, with
// every algorithm, verifies and gives back its claims, on the fast path
// and on the go-jose path alike, and that every other string made from it
// is refused by both: changed, re-encoded, re-headed or unsigned.
func TestCheckSignature(t *testing.T) {
	for _, alg := range keys.Algorithms {
		t.Run(string(alg), func(t *testing.T) {
			m, v := testKeys(t, alg)
			want := Claims{Issuer: "i", Subject: "s", Audience: "a", ExpiresAt: 1, IssuedAt: 2, JTI: "j", ClientID: "c",
				Scope: "a:read b:write", OrgID: "o"}
			raw, err := m.Sign([]byte(`{"iss":"i","sub":"s","aud":"a","exp":1,"iat":2,"jti":"j","client_id":"c","scope":"a:read b:write","org_id":"o"}`))
			if err != nil {
				t.Fatal(err)
			}
			var got Claims
			if err := v.checkSignature(t.Context(), raw, &got); err != nil || got != want {
				t.Fatalf("checkSignature(own token) = %+v, %v; want %+v", got, err, want)
			}
			kid := m.SigningKeyID()
			if p, k, err := v.verifyJWS(t.Context(), raw); err != nil || k != kid || !strings.Contains(string(p), `"jti":"j"`) {
				t.Fatalf("go-jose path on own token = %s, %q, %v", p, k, err)
			}
			if h, _ := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0]); string(h) != `{"alg":"`+string(alg)+`","kid":"`+kid+`","typ":"at+jwt"}` {
				t.Errorf("protected header %s", h)
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
				"carriage return":    parts[0] + "." + parts[1][:4] + "\r" + parts[1][4:] + "." + parts[2],
				"four parts":         raw + ".x",
				"two parts":          parts[0] + "." + parts[1],
				"typ JWT":            header(`{"alg":"`+string(alg)+`","kid":"`+kid+`","typ":"JWT"}`) + "." + parts[1] + "." + parts[2],
				"no typ":             header(`{"alg":"`+string(alg)+`","kid":"`+kid+`"}`) + "." + parts[1] + "." + parts[2],
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
			if s, err := enc.DecodeString(strings.Split(others["stray bits"], ".")[2]); err != nil || string(s) != string(sig) {
				t.Fatalf("stray bits: the signature decodes differently (%v)", err)
			}
			for name, tok := range others {
				t.Run(name, func(t *testing.T) {
					for range 2 { // the second time would admit it to the cache
						if err := v.checkSignature(t.Context(), tok, new(Claims)); !errors.Is(err, ErrInvalid) {
							t.Fatalf("checkSignature = %v, want ErrInvalid", err)
						}
						if _, _, err := v.verifyJWS(t.Context(), tok); !errors.Is(err, ErrInvalid) {
							t.Fatalf("verifyJWS = %v, want ErrInvalid", err)
						}
					}
				})
			}
		})
	}
}
