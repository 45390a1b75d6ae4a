// Package credential owns API credentials: how client IDs and secrets are
// made, checked and stored, the rules for creating and revoking them, and
// the in-memory view of them that the token hot path reads.
package credential

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
)

// Prefixes make Sapient's identifiers recognisable to people and to leak
// scanners.
const (
	ClientIDPrefix = "sapci_"
	SecretPrefix   = "sapsk_"
)

const (
	clientIDBytes = 16 // 128 bits: unique, not secret
	secretBytes   = 32 // 256 bits of entropy
	checksumBytes = 4  // CRC-32 of the random bytes
)

// alphabet is lowercase base32: URL-safe, form-safe, and selected whole by
// a double click.
const alphabet = "abcdefghijklmnopqrstuvwxyz234567"

// encoding is base32 in alphabet without padding.
var encoding = base32.NewEncoding(alphabet).WithPadding(base32.NoPadding)

// SecretLen is the length of every secret Sapient issues.
var SecretLen = len(SecretPrefix) + encoding.EncodedLen(secretBytes+checksumBytes)

// ErrMalformedSecret means a presented secret cannot be one Sapient issued:
// wrong prefix, length, alphabet or checksum. It is detected without any
// lookup.
var ErrMalformedSecret = errors.New("credential: malformed secret")

// NewClientID returns a new random client ID read from r.
func NewClientID(r io.Reader) (string, error) {
	var b [clientIDBytes]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("credential: client ID: %w", err)
	}
	return ClientIDPrefix + encoding.EncodeToString(b[:]), nil
}

// NewSecret returns a new secret: the prefix, then 256 random bits read from
// r and their CRC-32, in base32.
func NewSecret(r io.Reader) (string, error) {
	var b [secretBytes + checksumBytes]byte
	if _, err := io.ReadFull(r, b[:secretBytes]); err != nil {
		return "", fmt.Errorf("credential: secret: %w", err)
	}
	binary.BigEndian.PutUint32(b[secretBytes:], crc32.ChecksumIEEE(b[:secretBytes]))
	return SecretPrefix + encoding.EncodeToString(b[:]), nil
}

// CheckSecretFormat reports ErrMalformedSecret unless secret has the shape
// and checksum of a secret Sapient issued: the prefix, then exactly the
// base32 that NewSecret writes for 32 bytes and their CRC-32. It does not
// allocate.
func CheckSecretFormat(secret string) error {
	if len(secret) != SecretLen || !strings.HasPrefix(secret, SecretPrefix) {
		return ErrMalformedSecret
	}
	// Decoded by hand: encoding.Decode allocates, and it ignores the
	// unused low bits of the last character, so a typo there would pass.
	var (
		b    [secretBytes + checksumBytes]byte
		acc  uint
		bits int
		n    int
	)
	for i := len(SecretPrefix); i < len(secret); i++ {
		v := strings.IndexByte(alphabet, secret[i])
		if v < 0 {
			return ErrMalformedSecret
		}
		acc = acc<<5 | uint(v)
		if bits += 5; bits >= 8 {
			bits -= 8
			b[n] = byte(acc >> bits)
			n++
		}
	}
	if n != len(b) || acc&(1<<bits-1) != 0 {
		return ErrMalformedSecret
	}
	// CRC-32 (IEEE) by table, as crc32.ChecksumIEEE would make b escape.
	sum := ^uint32(0)
	for _, x := range b[:secretBytes] {
		sum = crc32.IEEETable[byte(sum)^x] ^ sum>>8
	}
	if ^sum != binary.BigEndian.Uint32(b[secretBytes:]) {
		return ErrMalformedSecret
	}
	return nil
}

// Hash is the SHA-256 digest of a secret. Secrets carry 256 bits of
// entropy, so a fast hash is as strong as a slow one and keeps the token
// endpoint fast.
type Hash [sha256.Size]byte

// HashSecret returns the digest stored for a secret.
func HashSecret(secret string) Hash { return sha256.Sum256([]byte(secret)) }

// String returns the digest in hex, the form kept in the database.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// ParseHash reads a digest in hex.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if hex.DecodedLen(len(s)) != len(h) {
		return h, errors.New("credential: bad secret hash length")
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("credential: bad secret hash: %w", err)
	}
	return h, nil
}

// Equal compares two digests in constant time.
func (h Hash) Equal(o Hash) bool { return subtle.ConstantTimeCompare(h[:], o[:]) == 1 }
