package token_test

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/keys"
	"sapient.dev/sapient/internal/org"
	"sapient.dev/sapient/internal/scope"
	"sapient.dev/sapient/internal/store/storetest"
	"sapient.dev/sapient/internal/token"
)

const fuzzIssuer = "https://sapient.test"

// FuzzVerify feeds arbitrary strings to a Verifier wired as the server
// wires it: a keys.Manager with a real key over an SQLite store, the
// credential cache and a denylist. The seeds (testdata/fuzz/FuzzVerify)
// refer to tokens made at set-up by placeholders, replaced before each
// run:
//
//	$VALID    a valid access token
//	$H $P $S  its header, payload and signature segments
//	$XS       its signature with a stray bit in the last character
//	$KID      the kid of the signing key
//	$EXPIRED  a token signed by the real key that has expired
//	$REVOKED  a token of a credential since revoked
//	$WRONGAUD a token signed by the real key for another audience
//	$DENIED   a valid token then revoked by its ID (RFC 7009)
//	<<...>>   base64url of the text between the marks, after replacement
//
// Whatever the input, Verify must not panic, every error must be
// token.ErrInvalid, and only the valid token may verify.
func FuzzVerify(f *testing.F) {
	ctx := f.Context()
	s := storetest.New(f, storetest.Backends()[0])
	now := time.Now().UTC().Truncate(time.Second)
	clock := func() time.Time { return now }
	if err := scope.EnsureBuiltin(ctx, s, now); err != nil {
		f.Fatal(err)
	}
	kek, err := keys.NewKEK("fuzz verify key-encryption secret, 32+ chars")
	if err != nil {
		f.Fatal(err)
	}
	m := &keys.Manager{
		Store: s, KEK: kek, Algorithm: jose.ES256, PublishLead: 15 * time.Minute, TokenTTL: time.Hour,
		Now: clock, Rand: rand.Reader, Logger: slog.New(slog.DiscardHandler),
	}
	if err := m.Init(ctx); err != nil {
		f.Fatal(err)
	}
	cache := credential.NewCache(s)
	denylist := token.NewDenylist()
	svc := &credential.Service{Store: s, Now: clock, Rand: rand.Reader, Changed: cache.Put}
	o, err := org.Create(ctx, s, access.CLI, "Fuzz", now)
	if err != nil {
		f.Fatal(err)
	}
	active, err := svc.Create(ctx, access.CLI, credential.CreateRequest{OrgID: o.ID, Name: "active"})
	if err != nil {
		f.Fatal(err)
	}
	gone, err := svc.Create(ctx, access.CLI, credential.CreateRequest{OrgID: o.ID, Name: "revoked"})
	if err != nil {
		f.Fatal(err)
	}
	v := &token.Verifier{
		Keys: m, Issuer: fuzzIssuer, Audience: fuzzIssuer, Credentials: cache,
		Orgs: org.NewCache(s), Denylist: denylist, Now: clock,
	}
	issue := func(clientID, audience string, at time.Time) string {
		f.Helper()
		e, err := cache.Lookup(ctx, clientID, now)
		if err != nil {
			f.Fatal(err)
		}
		iss := &token.Issuer{Signer: m, Issuer: fuzzIssuer, Audience: audience, TTL: time.Hour, Rand: rand.Reader}
		t, err := iss.Issue(e, e.Scope, "", at)
		if err != nil {
			f.Fatal(err)
		}
		return t.Token
	}
	valid := issue(active.Credential.ClientID, fuzzIssuer, now)
	expired := issue(active.Credential.ClientID, fuzzIssuer, now.Add(-2*time.Hour))
	wrongAud := issue(active.Credential.ClientID, "https://elsewhere.test", now)
	revoked := issue(gone.Credential.ClientID, fuzzIssuer, now)
	if _, err := svc.Revoke(ctx, access.CLI, gone.Credential.ClientID); err != nil {
		f.Fatal(err)
	}
	denied := issue(active.Credential.ClientID, fuzzIssuer, now)
	dv, err := v.Verify(ctx, denied)
	if err != nil {
		f.Fatalf("fresh token does not verify: %v", err)
	}
	denylist.Add(dv.Claims.JTI, time.Unix(dv.Claims.ExpiresAt, 0))

	// The set-up must be right for the properties below to mean anything.
	if _, err := v.Verify(ctx, valid); err != nil {
		f.Fatalf("valid token refused: %v", err)
	}
	for name, tok := range map[string]string{"expired": expired, "wrong audience": wrongAud, "revoked": revoked, "denied": denied} {
		if _, err := v.Verify(ctx, tok); !errors.Is(err, token.ErrInvalid) {
			f.Fatalf("%s token: Verify = %v, want ErrInvalid", name, err)
		}
	}

	parts := strings.Split(valid, ".")
	// $XS is the signature with an unused low bit of its last character
	// set: it decodes to the same bytes, but is not the token issued.
	const b64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	sig := parts[2]
	strayBits := sig[:len(sig)-1] + string(b64url[strings.IndexByte(b64url, sig[len(sig)-1])^1])
	expand := strings.NewReplacer(
		"$VALID", valid, "$XS", strayBits, "$H", parts[0], "$P", parts[1], "$S", parts[2], "$KID", m.SigningKeyID(),
		"$EXPIRED", expired, "$REVOKED", revoked, "$WRONGAUD", wrongAud, "$DENIED", denied,
	).Replace
	encodeMarked := regexp.MustCompile(`<<(.*?)>>`)
	prepare := func(in string) string {
		in = expand(in)
		return encodeMarked.ReplaceAllStringFunc(in, func(m string) string {
			return base64.RawURLEncoding.EncodeToString([]byte(m[2 : len(m)-2]))
		})
	}
	// The HMAC confusion attack: HS256 keyed with the published public key.
	jwks, err := m.JWKS()
	if err != nil {
		f.Fatal(err)
	}
	hsInput := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"at+jwt","kid":"`+m.SigningKeyID()+`"}`)) + "." + parts[1]
	mac := hmac.New(sha256.New, jwks)
	mac.Write([]byte(hsInput))
	hsForged := hsInput + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	f.Add(hsForged)

	f.Fuzz(func(t *testing.T, in string) {
		raw := prepare(in)
		got, err := v.Verify(t.Context(), raw)
		if err != nil {
			if !errors.Is(err, token.ErrInvalid) {
				t.Fatalf("Verify error %v (%T) is not ErrInvalid", err, err)
			}
			if got != nil {
				t.Fatal("Verify returned a result with an error")
			}
			return
		}
		if raw != valid {
			t.Fatalf("Verify accepted a token that is not the valid one: %q", raw)
		}
		if got.Claims.ClientID != active.Credential.ClientID || got.Credential == nil || got.Credential.ClientID != active.Credential.ClientID {
			t.Fatalf("valid token verified as %+v", got.Claims)
		}
	})
}
