package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// KEK is the key-encryption key that protects signing keys at rest with
// AES-256-GCM. Every instance that shares a database must use the same one.
type KEK struct{ aead cipher.AEAD }

// MinSecretLen is the shortest SAPIENT_SECRET_KEY accepted.
const MinSecretLen = 32

// NewKEK derives a KEK from a secret string (SAPIENT_SECRET_KEY).
func NewKEK(secret string) (*KEK, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("keys: the secret key must be at least %d characters", MinSecretLen)
	}
	sum := sha256.Sum256([]byte("sapient key-encryption key v1\x00" + secret))
	block, err := aes.NewCipher(sum[:])
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	return &KEK{aead: aead}, nil
}

// LoadOrCreateKEKFile reads the secret from path, or creates the file with a
// new random secret and mode 0600 when it does not exist. This is how the
// embedded SQLite default keeps its key beside its database.
func LoadOrCreateKEKFile(path string) (*KEK, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		secret := rand.Text() + rand.Text() // 2 × 130 bits
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("keys: create key file: %w", err)
		}
		if _, err := f.WriteString(secret + "\n"); err != nil {
			f.Close()
			return nil, fmt.Errorf("keys: write key file: %w", err)
		}
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("keys: write key file: %w", err)
		}
		return NewKEK(secret)
	}
	if err != nil {
		return nil, fmt.Errorf("keys: read key file: %w", err)
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("keys: key file %s is readable by others (mode %v); chmod 600 it", path, st.Mode().Perm())
	}
	return NewKEK(strings.TrimSpace(string(b)))
}

// seal encrypts plaintext, binding it to the key ID.
func (k *KEK) seal(rnd io.Reader, plaintext []byte, kid string) ([]byte, error) {
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := io.ReadFull(rnd, nonce); err != nil {
		return nil, fmt.Errorf("keys: nonce: %w", err)
	}
	out := k.aead.Seal(nonce, nonce, plaintext, []byte(kid))
	return []byte(base64.StdEncoding.EncodeToString(out)), nil
}

// ErrWrongKEK means a signing key could not be decrypted: the database was
// written with another SAPIENT_SECRET_KEY or key file.
var ErrWrongKEK = errors.New("keys: cannot decrypt signing key: wrong SAPIENT_SECRET_KEY or key file")

// open decrypts what seal produced.
func (k *KEK) open(sealed []byte, kid string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(string(sealed))
	if err != nil || len(raw) < k.aead.NonceSize() {
		return nil, ErrWrongKEK
	}
	n := k.aead.NonceSize()
	out, err := k.aead.Open(nil, raw[:n], raw[n:], []byte(kid))
	if err != nil {
		return nil, ErrWrongKEK
	}
	return out, nil
}

// Seal encrypts a secret that Sapient must read back (a webhook signing
// secret), binding it to label so that a sealed value cannot be moved to
// another record. Signing keys use the same cipher.
func (k *KEK) Seal(rnd io.Reader, plaintext []byte, label string) ([]byte, error) {
	return k.seal(rnd, plaintext, label)
}

// Open decrypts what Seal produced with the same label.
func (k *KEK) Open(sealed []byte, label string) ([]byte, error) { return k.open(sealed, label) }
