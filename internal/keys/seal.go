package keys

import "io"

// SealSecret encrypts a secret other than a signing key that Sapient must
// read back, such as a person's TOTP secret, with the KEK (AES-256-GCM).
// The ciphertext is bound to label (for example "totp:" and the user ID),
// so that it opens only where it was written: copied to another row, it
// does not open. Labels are prefixed so that they can never equal a
// signing key ID.
func (k *KEK) SealSecret(rnd io.Reader, plaintext []byte, label string) (string, error) {
	b, err := k.seal(rnd, plaintext, "secret\x00"+label)
	return string(b), err
}

// OpenSecret decrypts what SealSecret produced for the same label.
func (k *KEK) OpenSecret(sealed, label string) ([]byte, error) {
	return k.open([]byte(sealed), "secret\x00"+label)
}
