package token

import (
	"testing"

	"sapient.dev/sapient/internal/keys"
)

// TestSeenAdmission checks that a token is cached from its second
// verification on, not its first, and that a token that fails
// verification is never cached, however often it is presented.
func TestSeenAdmission(t *testing.T) {
	m, v := testKeys(t, keys.Algorithms[0])
	raw, err := m.Sign([]byte(`{"iss":"i","sub":"s","aud":"a","exp":1,"iat":2,"jti":"j","client_id":"c","org_id":"o"}`))
	if err != nil {
		t.Fatal(err)
	}
	for i, wantCached := range []bool{false, true, true} {
		var c Claims
		if err := v.checkSignature(t.Context(), raw, &c); err != nil || c.JTI != "j" {
			t.Fatalf("verification %d: %+v, %v", i+1, c, err)
		}
		if got := v.seen.get(raw) != nil; got != wantCached {
			t.Errorf("after verification %d the token is cached: %v, want %v", i+1, got, wantCached)
		}
	}
	forged := raw[:len(raw)-4] + "AAAA"
	for range 2 {
		if err := v.checkSignature(t.Context(), forged, new(Claims)); err == nil {
			t.Fatal("a token with a forged signature verified")
		}
	}
	if v.seen.get(forged) != nil {
		t.Error("a token that failed verification was cached")
	}
}
