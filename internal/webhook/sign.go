package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// SecretPrefix begins every signing secret, as the Standard Webhooks
// specification suggests ("whsec_" followed by the base64 of the key), so
// that its libraries take the secret as it is shown.
const SecretPrefix = "whsec_"

// secretBytes is the length of a signing key: 32 random bytes (256 bits),
// within the specification's 24 to 64.
const secretBytes = 32

// NewSecret returns a new signing secret.
func NewSecret(rnd io.Reader) (string, error) {
	b := make([]byte, secretBytes)
	if _, err := io.ReadFull(rnd, b); err != nil {
		return "", fmt.Errorf("webhook: secret: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b), nil
}

// Sign returns the webhook-signature header value for a message: "v1,"
// followed by the base64 of HMAC-SHA256, keyed with the secret's bytes,
// of "id.timestamp.body" (Standard Webhooks, "Signature scheme").
func Sign(secret, id string, at time.Time, body []byte) (string, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil {
		return "", fmt.Errorf("webhook: malformed signing secret")
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(strconv.FormatInt(at.Unix(), 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil)), nil
}
