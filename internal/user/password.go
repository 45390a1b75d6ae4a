// Package user owns the people who log in to the console: their passwords,
// roles and the first Admin.
package user

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// PasswordParams are the argon2id parameters of new password hashes
// (RFC 9106 §3.1). A hash records its own, so changing them changes only
// hashes made afterwards. Tests use cheap ones (see CheapPasswordParams);
// a zero PasswordParams means DefaultPasswordParams.
type PasswordParams struct {
	Time      uint32 // passes over the memory
	MemoryKiB uint32 // memory, in KiB
	Threads   uint8  // lanes
}

// DefaultPasswordParams are RFC 9106 §4's second recommended option
// (64 MiB, 3 passes), with 4 lanes.
var DefaultPasswordParams = PasswordParams{Time: 3, MemoryKiB: 64 * 1024, Threads: 4}

// CheapPasswordParams cost microseconds and 64 KiB: for tests only,
// never for passwords people choose.
var CheapPasswordParams = PasswordParams{Time: 1, MemoryKiB: 64, Threads: 1}

// ParsePasswordParams reads parameters written as in a PHC string's
// parameter field, "m=65536,t=3,p=4": memory in KiB, passes, lanes, each
// once, in any order. "" is the zero PasswordParams, DefaultPasswordParams.
func ParsePasswordParams(s string) (PasswordParams, error) {
	var p PasswordParams
	if s == "" {
		return p, nil
	}
	seen := map[string]bool{}
	for field := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(field), "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil || seen[k] {
			return PasswordParams{}, fmt.Errorf("argon2id parameters %q: want m=KiB,t=passes,p=lanes, for example %s", s, DefaultPasswordParams)
		}
		seen[k] = true
		switch k {
		case "m":
			p.MemoryKiB = uint32(n)
		case "t":
			p.Time = uint32(n)
		case "p":
			if n > 255 {
				return PasswordParams{}, fmt.Errorf("argon2id parameters %q: at most 255 lanes", s)
			}
			p.Threads = uint8(n)
		default:
			return PasswordParams{}, fmt.Errorf("argon2id parameters %q: unknown %q; want m, t and p", s, k)
		}
	}
	if len(seen) != 3 || !p.valid() {
		return PasswordParams{}, fmt.Errorf("argon2id parameters %q: want all of m, t and p, with 1 <= t <= 16, 1 <= p, 8*p <= m <= 1048576", s)
	}
	return p, nil
}

// String writes p as ParsePasswordParams reads it.
func (p PasswordParams) String() string {
	return fmt.Sprintf("m=%d,t=%d,p=%d", p.MemoryKiB, p.Time, p.Threads)
}

// Weak reports whether p is below OWASP's least recommended argon2id
// configuration (19 MiB and 2 passes, or 46 MiB and 1): fit for tests,
// not for the passwords people choose.
func (p PasswordParams) Weak() bool {
	p = p.orDefault()
	return p.MemoryKiB < 19*1024 || (p.Time < 2 && p.MemoryKiB < 46*1024)
}

// orDefault is p, or DefaultPasswordParams when p is zero.
func (p PasswordParams) orDefault() PasswordParams {
	if p == (PasswordParams{}) {
		return DefaultPasswordParams
	}
	return p
}

// valid reports whether argon2id can run with p within the bounds
// VerifyPassword accepts from a stored hash.
func (p PasswordParams) valid() bool {
	return p.Time >= 1 && p.Time <= 16 && p.Threads >= 1 && p.MemoryKiB >= 8*uint32(p.Threads) && p.MemoryKiB <= 1<<20
}

const (
	argonKeyLen = 32
	saltLen     = 16
)

// MinPasswordLen is the shortest password accepted for a person, in
// characters, and MaxPasswordBytes the longest, in bytes.
const (
	MinPasswordLen   = 12
	MaxPasswordBytes = 1024
)

// HashPassword returns an argon2id hash of password in the PHC string
// format, with DefaultPasswordParams.
func HashPassword(password string) (string, error) {
	return DefaultPasswordParams.Hash(password)
}

// Hash returns an argon2id hash of password in the PHC string format,
// with the parameters p (zero: DefaultPasswordParams).
func (p PasswordParams) Hash(password string) (string, error) {
	p = p.orDefault()
	if !p.valid() {
		return "", fmt.Errorf("user: argon2id parameters %+v out of range", p)
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("user: salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

var errBadHash = errors.New("user: unrecognised password hash")

// VerifyPassword reports whether password matches a hash made by
// HashPassword, comparing in constant time.
func VerifyPassword(hash, password string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errBadHash
	}
	var (
		version      int
		memory, time uint32
		threads      uint8
	)
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errBadHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &memory, &time, &threads); err != nil {
		return false, errBadHash
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, errBadHash
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil {
		return false, errBadHash
	}
	// A stored hash is data: refuse parameters that would panic or exhaust
	// memory rather than trusting them.
	if !(PasswordParams{Time: time, MemoryKiB: memory, Threads: threads}).valid() ||
		len(salt) < 8 || len(want) < 16 || len(want) > 64 {
		return false, errBadHash
	}
	got := argon2.IDKey([]byte(password), salt, time, memory, threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// dummyHashes hold, for each PasswordParams, the hash compared against
// when no user has the email, so that a failed login takes as long
// whether or not the account exists.
type dummyHashes struct {
	mu     sync.Mutex
	hashes map[PasswordParams]string
}

// get returns the dummy hash for p, made on first use.
func (d *dummyHashes) get(p PasswordParams) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if h, ok := d.hashes[p]; ok {
		return h, nil
	}
	h, err := p.Hash("sapient-no-such-user")
	if err != nil {
		return "", err
	}
	if d.hashes == nil {
		d.hashes = map[PasswordParams]string{}
	}
	d.hashes[p] = h
	return h, nil
}
