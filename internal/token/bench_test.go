package token_test

import (
	"crypto/rand"
	"log/slog"
	"testing"
	"time"

	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/server"
	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store/storetest"
	"sapient.dev/sapient/internal/token"
)

// benchEnv is a server instance with one credential and an issuer that
// signs with the instance's current key.
func benchEnv(b *testing.B) (*servertest.Env, *token.Issuer, *credential.Entry) {
	env := servertest.New(b, storetest.Backends()[0], func(c *server.Config) { c.Logger = slog.New(slog.DiscardHandler) })
	acme := env.Org(b, "Acme")
	c := env.Credential(b, acme.ID, "bench", nil)
	e, err := env.Server.Cache.Lookup(b.Context(), c.Credential.ClientID, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	iss := &token.Issuer{Signer: env.Server.Keys, Issuer: env.URL, Audience: env.URL, TTL: time.Hour, Rand: rand.Reader}
	return env, iss, e
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
	env, iss, e := benchEnv(b)
	v := env.Server.Verifier
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
