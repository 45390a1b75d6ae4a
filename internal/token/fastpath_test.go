package token

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"sapient.dev/sapient/internal/keys"
	"sapient.dev/sapient/internal/store/storetest"
)

// TestClaimsJSON holds the claims encoder to json.Marshal and the decoder
// to json.Unmarshal, on what Issue writes and on what it never writes.
func TestClaimsJSON(t *testing.T) {
	claims := []Claims{
		{Issuer: "http://localhost:8080", Subject: "sapci_a", Audience: "http://localhost:8080", ExpiresAt: 1795632973,
			IssuedAt: 1795629373, JTI: "JZslESkC5dD5M-i4vnA6Sg", ClientID: "sapci_a", Scope: "a b", OrgID: "org_1"},
		{Issuer: `https://ex.com/"<&>"\`, Subject: "☃", Audience: "\x00\n", ExpiresAt: -1, IssuedAt: 0, NotBefore: 7,
			JTI: "j", ClientID: "c", OrgID: ""},
	}
	for _, c := range claims {
		want, _ := json.Marshal(&c)
		if got := c.appendJSON(nil); string(got) != string(want) {
			t.Errorf("appendJSON\n got %s\nwant %s", got, want)
		}
		var back Claims
		if err := back.decode(want); err != nil || back != c {
			t.Errorf("decode(%s) = %+v, %v", want, back, err)
		}
	}
	payloads := []string{
		`{"iss":"i","sub":"s","aud":"a","exp":1,"iat":2,"jti":"j","client_id":"c","org_id":"o"}`,
		`{"iss":"i","sub":"s","aud":"a","exp":1,"iat":2,"nbf":3,"jti":"j","client_id":"c","scope":"x","org_id":"o"}`,
		`{"org_id":"o","iss":"i","sub":"s","aud":"a","exp":1,"iat":2,"jti":"j","client_id":"c"}`,
		`{"iss":"i","sub":"s","aud":"a","exp":1,"iat":2,"jti":"j","client_id":"c","org_id":"o","org_id":"p"}`,
		`{"ISS":"i","Sub":"s","aud":"a","exp":1,"iat":2,"jti":"j","client_id":"c","org_id":"o"}`,
		`{"iss":"\u0069","sub":"s","aud":"a","exp":1,"iat":2,"jti":"j","client_id":"c","org_id":"o"}`,
		`{"iss":"i","sub":"s","aud":"a","exp":1.5,"iat":2,"jti":"j","client_id":"c","org_id":"o"}`,
		`{"iss":"i","sub":"s","aud":"a","exp":01,"iat":2,"jti":"j","client_id":"c","org_id":"o"}`,
		`{"iss":"i","sub":"s","aud":"a","exp":1e3,"iat":2,"jti":"j","client_id":"c","org_id":"o"}`,
		`{"iss":"i","sub":"s","aud":"a","exp":-0,"iat":99999999999999999999,"jti":"j","client_id":"c","org_id":"o"}`,
		`{"iss":"i","sub":"s","aud":["a"],"exp":1,"iat":2,"jti":"j","client_id":"c","org_id":"o"}`,
		`{"iss":"i","sub":"s","aud":"a","exp":1,"iat":2,"jti":"j","client_id":"c","org_id":"o"} `,
		`{"iss":"i","sub":"s","aud":"a","exp":1,"iat":2,"jti":"j","client_id":"c","org_id":"o"}x`,
		`{"iss":"i", "sub":"s","aud":"a","exp":1,"iat":2,"jti":"j","client_id":"c","org_id":"o"}`,
		`{"iss":"i","sub":"s","aud":"a","exp":1,"iat":2,"jti":"j","client_id":"c","scope":"","org_id":"o"}`,
		`{"iss":"i","sub":"s","aud":"a","exp":1,"iat":2,"jti":"j","client_id":"c","org_id":"o"`,
		`null`, ``, `[]`, `{}`,
	}
	for _, p := range payloads {
		var want, got Claims
		werr := json.Unmarshal([]byte(p), &want)
		gerr := got.decode([]byte(p))
		if (werr == nil) != (gerr == nil) || (werr == nil && got != want) {
			t.Errorf("decode(%s) = %+v, %v; json.Unmarshal gives %+v, %v", p, got, gerr, want, werr)
		}
	}
}

// TestFastVerify checks that the fast path accepts Sapient's own tokens
// with every algorithm and leaves everything else to go-jose, which then
// decides as it always did.
func TestFastVerify(t *testing.T) {
	for _, alg := range keys.Algorithms {
		t.Run(string(alg), func(t *testing.T) {
			kek, err := keys.NewKEK("fast path test key-encryption secret")
			if err != nil {
				t.Fatal(err)
			}
			m := &keys.Manager{Store: storetest.New(t, storetest.Backends()[0]), KEK: kek, Algorithm: alg,
				Rotation: time.Hour, PublishLead: time.Minute, TokenTTL: time.Hour, Now: time.Now, Rand: rand.Reader,
				Logger: slog.New(slog.DiscardHandler)}
			if err := m.Init(t.Context()); err != nil {
				t.Fatal(err)
			}
			v := &Verifier{Keys: m, Now: time.Now}
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
			if last := parts[2][len(parts[2])-1]; strings.IndexByte("AQgw", last) < 0 {
				// A final character with stray low bits decodes to the
				// same signature in Go's lenient decoder.
				others["stray bits"] = parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-1] + string(last+1)
			}
			for name, tok := range others {
				if _, _, ok := v.fastVerify(t.Context(), tok); ok {
					t.Errorf("%s: the fast path accepted it", name)
				}
			}
		})
	}
}
