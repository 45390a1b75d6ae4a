package bench

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"

	"sapient.dev/sapient/internal/credential"
)

// keyring derives the random bytes of bench credential i from a per-run
// seed, so that the load generator can rebuild the client ID and secret of
// any of a million credentials without keeping them in memory. The seed is
// random and lives only in this process, so the secrets are as unguessable
// as any others; they are just cheap to recompute here.
type keyring struct{ seed [32]byte }

// block returns 32 derived bytes: SHA-256(seed ‖ i ‖ n).
func (k *keyring) block(i, n uint64) [32]byte {
	var in [48]byte
	copy(in[:], k.seed[:])
	binary.BigEndian.PutUint64(in[32:], i)
	binary.BigEndian.PutUint64(in[40:], n)
	return sha256.Sum256(in[:])
}

// reader is the random source credential.Service reads when it makes
// credential i: 16 bytes for the client ID, then 32 for the secret, as
// credential.NewClientID and credential.NewSecret read them.
type reader struct {
	k   *keyring
	i   uint64
	buf [64]byte
	off int
}

func (k *keyring) reader(i int) *reader {
	r := &reader{k: k, i: uint64(i)}
	b0, b1 := k.block(r.i, 0), k.block(r.i, 1)
	copy(r.buf[:32], b0[:])
	copy(r.buf[32:], b1[:])
	return r
}

func (r *reader) Read(p []byte) (int, error) {
	n := copy(p, r.buf[r.off:])
	r.off += n
	if n < len(p) {
		// A longer read than the two credential fields: keep deriving.
		for n < len(p) {
			b := r.k.block(r.i, uint64(2+r.off/32))
			m := copy(p[n:], b[r.off%32:])
			n += m
			r.off += m
		}
	}
	return n, nil
}

// credential returns client ID and secret i, made by the credential
// package's own functions.
func (k *keyring) credential(i int) (id, secret string, err error) {
	r := k.reader(i)
	if id, err = credential.NewClientID(r); err != nil {
		return "", "", err
	}
	secret, err = credential.NewSecret(r)
	return id, secret, err
}

// lowerBase32 is the encoding of client IDs and secrets.
var lowerBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// appendBasic appends the client_secret_basic Authorization value of
// credential i ("Basic " and base64 of "id:secret") to dst without
// allocating. The identifiers need no form-encoding: their alphabet is
// unreserved. check compares it with credential() once per run.
func (k *keyring) appendBasic(dst []byte, i int) []byte {
	b0, b1 := k.block(uint64(i), 0), k.block(uint64(i), 1)
	var raw [16 + 32]byte
	copy(raw[:32], b0[:])
	copy(raw[32:], b1[:16])
	var secret [32 + 4]byte
	copy(secret[:32], raw[16:48])
	binary.BigEndian.PutUint32(secret[32:], crc32.ChecksumIEEE(secret[:32]))

	var plain [128]byte
	p := append(plain[:0], credential.ClientIDPrefix...)
	p = lowerBase32.AppendEncode(p, raw[:16])
	p = append(p, ':')
	p = append(p, credential.SecretPrefix...)
	p = lowerBase32.AppendEncode(p, secret[:])
	dst = append(dst, "Basic "...)
	return base64.StdEncoding.AppendEncode(dst, p)
}
