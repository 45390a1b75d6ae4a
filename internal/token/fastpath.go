package token

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"math/big"
	"strings"
	"unsafe"

	"github.com/go-jose/go-jose/v4"
)

// fastVerify checks the signature of a token in the exact form Sapient
// issues (protected header {"alg":ALG,"kid":KID,"typ":"at+jwt"}, as
// go-jose writes it too)
// with the standard library alone, and returns its payload and key ID. It
// is the one piece of hand-written JWS code kept beside go-jose, for
// tokens never seen before (docs/BENCHMARKS.md, "One JOSE path", has the
// measurement that keeps it). It accepts only what the go-jose path
// (verifyJWS) would accept with the same payload: three segments of the
// base64url alphabet that decode strictly (no padding, no line breaks, no
// stray bits), and a valid signature by the published key of the
// header's kid and alg (RFC 7515 §5.2, RFC 7518 §3); TestFastVerify holds
// it to that. Anything else, including every failure, returns ok == false
// and the caller takes the go-jose path, which gives the verdict and its
// reason.
func (v *Verifier) fastVerify(ctx context.Context, raw string) (payload []byte, kid string, ok bool) {
	h, rest, _ := strings.Cut(raw, ".")
	p, s, found := strings.Cut(rest, ".")
	if !found || strings.IndexByte(s, '.') >= 0 || !base64URLOnly(raw) {
		return nil, "", false
	}
	strict := base64.RawURLEncoding.Strict()
	var hbuf [256]byte
	if strict.DecodedLen(len(h)) > len(hbuf) {
		return nil, "", false
	}
	n, err := strict.Decode(hbuf[:], bytesOf(h))
	if err != nil {
		return nil, "", false
	}
	alg, kid, ok := parseHeader(hbuf[:n])
	if !ok {
		return nil, "", false
	}
	key, ok := v.key(ctx, kid)
	if !ok || key.Algorithm != string(alg) {
		return nil, "", false
	}
	var sbuf [512]byte
	if strict.DecodedLen(len(s)) > len(sbuf) {
		return nil, "", false
	}
	n, err = strict.Decode(sbuf[:], bytesOf(s))
	if err != nil {
		return nil, "", false
	}
	sig := sbuf[:n]
	signed := raw[:len(h)+1+len(p)]
	switch alg {
	case jose.ES256:
		pub, isEC := key.Key.(*ecdsa.PublicKey)
		if !isEC || len(sig) != 64 {
			return nil, "", false
		}
		digest := sha256.Sum256(bytesOf(signed))
		r, ss := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		if !ecdsa.Verify(pub, digest[:], r, ss) {
			return nil, "", false
		}
	case jose.EdDSA:
		pub, isEd := key.Key.(ed25519.PublicKey)
		if !isEd || !ed25519.Verify(pub, bytesOf(signed), sig) {
			return nil, "", false
		}
	case jose.RS256:
		pub, isRSA := key.Key.(*rsa.PublicKey)
		if !isRSA {
			return nil, "", false
		}
		digest := sha256.Sum256(bytesOf(signed))
		if rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig) != nil {
			return nil, "", false
		}
	default:
		return nil, "", false
	}
	payload, err = strict.DecodeString(p)
	if err != nil {
		return nil, "", false
	}
	return payload, kid, true
}

// parseHeader matches the decoded protected header against the one form
// Sapient writes, {"alg":ALG,"kid":KID,"typ":"at+jwt"}.
func parseHeader(h []byte) (jose.SignatureAlgorithm, string, bool) {
	const (
		p1 = `{"alg":"`
		p2 = `","kid":"`
		p3 = `","typ":"at+jwt"}`
	)
	s := string(h)
	rest, ok := strings.CutPrefix(s, p1)
	if !ok {
		return "", "", false
	}
	alg, rest, ok := strings.Cut(rest, p2)
	if !ok {
		return "", "", false
	}
	kid, ok := strings.CutSuffix(rest, p3)
	if !ok || kid == "" || strings.ContainsAny(kid, `"\`) {
		return "", "", false
	}
	for _, a := range allowedAlgs {
		if string(a) == alg {
			return a, kid, true
		}
	}
	return "", "", false
}

// base64URLOnly reports whether s holds only the base64url alphabet and
// dots: Go's decoders skip CR and LF, which a canonical token cannot hold.
func base64URLOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// bytesOf views s as bytes without copying, for functions that only read
// their input (hashing, decoding, verifying). The bytes must not be
// changed.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
