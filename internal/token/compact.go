package token

import (
	"encoding/base64"
	"strings"
)

// canonical reports whether raw is a JWS compact serialization (RFC 7515
// §7.1) whose three parts are base64url without padding, line breaks or
// stray bits (§2). Go's base64 decoder skips line breaks and ignores the
// unused bits of a final character, so without this check many different
// strings would verify as one token.
func canonical(raw string) bool {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		b, err := base64.RawURLEncoding.DecodeString(p)
		if err != nil || base64.RawURLEncoding.EncodeToString(b) != p {
			return false
		}
	}
	return true
}
