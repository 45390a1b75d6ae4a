package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/go-jose/go-jose/v4"
)

// jwsSigner makes compact JWS (RFC 7515 §7.1) with one key. The protected
// header is the same for every token the key signs, so it is encoded once;
// the signature comes straight from the standard library (crypto/ecdsa,
// crypto/ed25519, crypto/rsa), with the encodings RFC 7518 §3 prescribes.
// This is what go-jose's Signer does, without its per-token header map,
// JSON encoding and intermediate objects. It is the one hand-written
// signer kept beside go-jose, for its measured gain on the token endpoint
// (docs/BENCHMARKS.md, "One JOSE path"); go-jose verifies what it signs
// (TestAlgorithms) and writes the same header (TestHeaderMatchesGoJOSE).
type jwsSigner struct {
	header string // base64url of the protected header JSON
	sign   func(signingInput []byte) ([]byte, error)
	sigLen int // length of the signature in bytes
}

// header is the protected header of Sapient's access tokens (RFC 9068
// §2.1), base64url-encoded. Its JSON has the members in the order
// json.Marshal gives a map, byte for byte what go-jose's Signer writes for
// the same alg, kid and typ.
func header(alg jose.SignatureAlgorithm, kid string) string {
	raw, _ := json.Marshal(map[string]string{"alg": string(alg), "kid": kid, "typ": "at+jwt"})
	return base64.RawURLEncoding.EncodeToString(raw)
}

func newJWSSigner(alg jose.SignatureAlgorithm, kid string, key crypto.Signer) (*jwsSigner, error) {
	s := &jwsSigner{header: header(alg, kid)}
	switch alg {
	case jose.ES256:
		// RFC 7518 §3.4: the signature is R and S as 32-byte big-endian
		// integers, concatenated.
		k, ok := key.(*ecdsa.PrivateKey)
		if !ok || k.Curve.Params().BitSize != 256 {
			return nil, fmt.Errorf("keys: ES256 needs a P-256 key")
		}
		s.sigLen = 64
		s.sign = func(in []byte) ([]byte, error) {
			digest := sha256.Sum256(in)
			r, ss, err := ecdsa.Sign(rand.Reader, k, digest[:])
			if err != nil {
				return nil, err
			}
			sig := make([]byte, 64)
			r.FillBytes(sig[:32])
			ss.FillBytes(sig[32:])
			return sig, nil
		}
	case jose.EdDSA:
		// RFC 8037 §3.1: Ed25519 over the signing input itself.
		k, ok := key.(ed25519.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("keys: EdDSA needs an Ed25519 key")
		}
		s.sigLen = ed25519.SignatureSize
		s.sign = func(in []byte) ([]byte, error) { return ed25519.Sign(k, in), nil }
	case jose.RS256:
		// RFC 7518 §3.3: RSASSA-PKCS1-v1_5 with SHA-256.
		k, ok := key.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("keys: RS256 needs an RSA key")
		}
		s.sigLen = k.Size()
		s.sign = func(in []byte) ([]byte, error) {
			digest := sha256.Sum256(in)
			return rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, digest[:])
		}
	default:
		return nil, fmt.Errorf("keys: unsupported algorithm %q", alg)
	}
	return s, nil
}

// compact signs payload: BASE64URL(header) '.' BASE64URL(payload) '.'
// BASE64URL(signature), built in one buffer.
func (s *jwsSigner) compact(payload []byte) (string, error) {
	enc := base64.RawURLEncoding
	buf := make([]byte, 0, len(s.header)+2+enc.EncodedLen(len(payload))+enc.EncodedLen(s.sigLen))
	buf = append(buf, s.header...)
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, payload)
	sig, err := s.sign(buf)
	if err != nil {
		return "", fmt.Errorf("keys: sign: %w", err)
	}
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig)
	return string(buf), nil
}
