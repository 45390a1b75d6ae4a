package user_test

import (
	"testing"

	"sapient.dev/sapient/internal/user"
)

// TestNewWebAuthn: the relying party ID is the issuer's host, its origin
// the issuer's origin; an IP address has no passkeys.
func TestNewWebAuthn(t *testing.T) {
	for _, tc := range []struct {
		issuer, rpID, origin string
	}{
		{"http://localhost:8080", "localhost", "http://localhost:8080"},
		{"https://auth.example.com/sapient/", "auth.example.com", "https://auth.example.com"},
		{"http://127.0.0.1:8080", "", ""},
		{"http://[::1]:8080", "", ""},
	} {
		wa, err := user.NewWebAuthn(tc.issuer)
		if err != nil {
			t.Errorf("NewWebAuthn(%s): %v", tc.issuer, err)
			continue
		}
		if tc.rpID == "" {
			if wa != nil {
				t.Errorf("NewWebAuthn(%s) has passkeys on an IP address", tc.issuer)
			}
			continue
		}
		if wa == nil || wa.Config.RPID != tc.rpID || len(wa.Config.RPOrigins) != 1 || wa.Config.RPOrigins[0] != tc.origin {
			t.Errorf("NewWebAuthn(%s) = %+v", tc.issuer, wa)
		}
	}
}
