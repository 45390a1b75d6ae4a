package bench

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"math/big"
	"net/http"
	"strings"
)

// The floors are what this machine can do at all: a bare net/http handler
// on the same loopback, with the same server settings and the same
// requests as the scenario it is compared with, answering a body of the
// same size. floor-sign adds one ES256 signature per request and
// floor-verify one ES256 verification, with crypto/ecdsa and nothing else:
// no claims to build or check, no routing, no middleware, no metrics.

// floorHandler answers body.
func floorHandler(body []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Write(body)
	})
}

// floorSignHandler signs signingInput (the header and claims of a real
// access token) with key on every request and answers a body of size
// bodyLen that carries the new JWT, as the token endpoint's does.
func floorSignHandler(key *ecdsa.PrivateKey, signingInput string, bodyLen int) http.Handler {
	const prefix = `{"access_token":"`
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		digest := sha256.Sum256([]byte(signingInput))
		rs, ss, err := ecdsa.Sign(rand.Reader, key, digest[:])
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		var sig [64]byte
		rs.FillBytes(sig[:32])
		ss.FillBytes(sig[32:])
		body := make([]byte, 0, max(bodyLen, 256+len(signingInput)))
		body = append(body, prefix...)
		body = append(body, signingInput...)
		body = append(body, '.')
		body = base64.RawURLEncoding.AppendEncode(body, sig[:])
		body = append(body, `","token_type":"Bearer"`...)
		for len(body) < bodyLen-1 {
			body = append(body, ' ')
		}
		body = append(body, '}')
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Write(body)
	})
}

// floorVerifyHandler verifies the ES256 JWT in the Authorization header
// with pub on every request and answers body; a bad token is 401.
func floorVerifyHandler(pub *ecdsa.PublicKey, body []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		dot := strings.LastIndexByte(tok, '.')
		var sig [64]byte
		if !ok || dot < 0 || base64.RawURLEncoding.DecodedLen(len(tok)-dot-1) != len(sig) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if _, err := base64.RawURLEncoding.Decode(sig[:], []byte(tok[dot+1:])); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		digest := sha256.Sum256([]byte(tok[:dot]))
		rs, ss := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		if !ecdsa.Verify(pub, digest[:], rs, ss) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Write(body)
	})
}

// filler returns n bytes of JSON-looking text.
func filler(n int) []byte {
	b := bytes.Repeat([]byte{' '}, max(n, 2))
	b[0], b[len(b)-1] = '{', '}'
	return b[:max(n, 2)]
}
