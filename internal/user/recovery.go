package user

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
)

// RecoveryCodeCount is how many recovery codes a person gets at once.
const RecoveryCodeCount = 10

// Recovery codes are ten lowercase base32 characters shown as two groups
// of five ("k7x2m-q9w4t"): 50 random bits each, which the login throttle
// makes unguessable, short enough to type from paper. At rest each is the
// SHA-256 digest of the user ID and the code, as for other high-entropy
// secrets.
const recoveryAlphabet = "abcdefghijklmnopqrstuvwxyz234567"

func (t *TwoFactor) newRecoveryCodes(userID string) (codes, digests []string, err error) {
	for range RecoveryCodeCount {
		var b [10]byte
		if _, err := io.ReadFull(t.rand(), b[:]); err != nil {
			return nil, nil, fmt.Errorf("user: recovery codes: %w", err)
		}
		var sb strings.Builder
		for i, c := range b {
			if i == 5 {
				sb.WriteByte('-')
			}
			sb.WriteByte(recoveryAlphabet[c&31])
		}
		codes = append(codes, sb.String())
		digests = append(digests, recoveryDigest(userID, sb.String()))
	}
	return codes, digests, nil
}

// normalizeRecoveryCode drops what people add or change when typing a
// code: spaces, dashes and capitals.
func normalizeRecoveryCode(code string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '-' || r == ' ' || r == '\t':
			return -1
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return r
	}, code)
}

// looksLikeRecoveryCode tells a recovery code from a six-digit
// authenticator code.
func looksLikeRecoveryCode(code string) bool {
	return len(normalizeRecoveryCode(code)) == 10
}

func recoveryDigest(userID, code string) string {
	sum := sha256.Sum256([]byte("sapient recovery code\x00" + userID + "\x00" + normalizeRecoveryCode(code)))
	return hex.EncodeToString(sum[:])
}
