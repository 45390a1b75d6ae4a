package token

import (
	"crypto/rand"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/org"
	"sapient.dev/sapient/internal/scope"
	"sapient.dev/sapient/internal/store/storetest"
)

// benchIssuer is the issuer the benchmarks' tokens claim.
const benchIssuer = "https://sapient.test"

// benchEnv is a signing key and a verifier of its tokens, as a server
// wires them (credentials, organisations and revocations from memory), one
// credential, and an issuer of tokens for it.
func benchEnv(b *testing.B) (*Verifier, *Issuer, *credential.Entry) {
	st := storetest.New(b, storetest.Backends()[0])
	m, v := testKeysOn(b, st, jose.ES256)
	ctx := b.Context()
	now := time.Now()
	if err := scope.EnsureBuiltin(ctx, st, now); err != nil {
		b.Fatal(err)
	}
	acme, err := org.Create(ctx, st, access.CLI, "Acme", now)
	if err != nil {
		b.Fatal(err)
	}
	orgs := org.NewCache(st)
	creds := credential.NewCache(st)
	creds.Orgs = orgs
	svc := &credential.Service{Store: st, Now: time.Now, Rand: rand.Reader}
	c, err := svc.Create(ctx, access.CLI, credential.CreateRequest{OrgID: acme.ID, Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	e, err := creds.Lookup(ctx, c.Credential.ClientID, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	v.Issuer, v.Audience, v.Credentials, v.Orgs, v.Denylist = benchIssuer, benchIssuer, creds, orgs, NewDenylist()
	iss := &Issuer{Signer: m, Issuer: benchIssuer, Audience: benchIssuer, TTL: time.Hour, Rand: rand.Reader}
	return v, iss, e
}

// BenchmarkIssue builds and signs one access token (ES256).
func BenchmarkIssue(b *testing.B) {
	_, iss, e := benchEnv(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := iss.Issue(e, e.Scope, "", time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify checks access tokens: "seen" presents the same token
// every time, as a client does until it expires; "new" presents a token
// never verified before every time (signature, claims, revocation).
func BenchmarkVerify(b *testing.B) {
	v, iss, e := benchEnv(b)
	b.Run("seen", func(b *testing.B) {
		t, err := iss.Issue(e, e.Scope, "", time.Now())
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(b.Context(), t.Token); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("new", func(b *testing.B) {
		toks := make([]string, b.N)
		for i := range toks {
			t, err := iss.Issue(e, e.Scope, "", time.Now())
			if err != nil {
				b.Fatal(err)
			}
			toks[i] = t.Token
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if _, err := v.Verify(b.Context(), toks[i]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
