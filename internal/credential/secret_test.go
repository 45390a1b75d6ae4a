package credential

import (
	"bytes"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"strings"
	"testing"
)

// lowerBase32 is the alphabet secrets and client IDs use.
const lowerBase32 = "abcdefghijklmnopqrstuvwxyz234567"

func mustSecret(t *testing.T) string {
	t.Helper()
	s, err := NewSecret(rand.Reader)
	if err != nil {
		t.Fatalf("NewSecret: %v", err)
	}
	return s
}

func TestNewSecretFormat(t *testing.T) {
	s := mustSecret(t)
	if !strings.HasPrefix(s, SecretPrefix) {
		t.Fatalf("secret %q lacks prefix %q", s, SecretPrefix)
	}
	if len(s) != SecretLen {
		t.Fatalf("len(secret) = %d, want SecretLen %d", len(s), SecretLen)
	}
	body := s[len(SecretPrefix):]
	if strings.Trim(body, lowerBase32) != "" {
		t.Fatalf("secret body %q has characters outside lowercase base32", body)
	}
	// The body carries 32 random bytes and a 4-byte checksum: at least
	// 256 bits of entropy.
	raw, err := base32.NewEncoding(lowerBase32).WithPadding(base32.NoPadding).DecodeString(body)
	if err != nil {
		t.Fatalf("decode secret body: %v", err)
	}
	if len(raw) != 36 {
		t.Fatalf("secret decodes to %d bytes, want 32 random + 4 checksum", len(raw))
	}
	if err := CheckSecretFormat(s); err != nil {
		t.Fatalf("CheckSecretFormat(new secret) = %v", err)
	}
}

// TestNewSecretUsesAllRandomBytes proves the secret is made from 32 bytes
// of the random source: the same bytes give the same secret, and changing
// any one byte of them changes it.
func TestNewSecretUsesAllRandomBytes(t *testing.T) {
	seed := bytes.Repeat([]byte{0x5a}, 32)
	base, err := NewSecret(bytes.NewReader(seed))
	if err != nil {
		t.Fatal(err)
	}
	again, _ := NewSecret(bytes.NewReader(seed))
	if base != again {
		t.Fatalf("same random bytes gave different secrets")
	}
	for i := range seed {
		b := bytes.Clone(seed)
		b[i] ^= 0x01
		s, err := NewSecret(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if s == base {
			t.Fatalf("flipping random byte %d did not change the secret: entropy is lost", i)
		}
		if err := CheckSecretFormat(s); err != nil {
			t.Fatalf("CheckSecretFormat: %v", err)
		}
	}
	// 31 bytes are not enough: the source must supply all 32.
	if _, err := NewSecret(bytes.NewReader(seed[:31])); err == nil {
		t.Fatal("NewSecret with a short random source succeeded")
	}
}

func TestNewSecretUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		s := mustSecret(t)
		if seen[s] {
			t.Fatalf("duplicate secret %q", s)
		}
		seen[s] = true
	}
}

func TestNewClientID(t *testing.T) {
	id, err := NewClientID(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(id, ClientIDPrefix) {
		t.Fatalf("client ID %q lacks prefix %q", id, ClientIDPrefix)
	}
	if body := id[len(ClientIDPrefix):]; len(body) != 26 || strings.Trim(body, lowerBase32) != "" {
		t.Fatalf("client ID body %q is not 26 lowercase base32 characters (128 bits)", body)
	}
	other, _ := NewClientID(rand.Reader)
	if other == id {
		t.Fatal("two client IDs are equal")
	}
	if strings.HasPrefix(id, SecretPrefix) || CheckSecretFormat(id) == nil {
		t.Fatal("a client ID passes for a secret")
	}
	if _, err := NewClientID(bytes.NewReader(make([]byte, 15))); err == nil {
		t.Fatal("NewClientID with a short random source succeeded")
	}
}

func TestCheckSecretFormatRefuses(t *testing.T) {
	good := mustSecret(t)
	body := good[len(SecretPrefix):]
	tests := []struct {
		name, secret string
	}{
		{"empty", ""},
		{"prefix only", SecretPrefix},
		{"no prefix", body},
		{"other prefix", "sapxx_" + body},
		{"client ID prefix", ClientIDPrefix + body},
		{"upper case", strings.ToUpper(good)},
		{"upper case body", SecretPrefix + strings.ToUpper(body)},
		{"one character short", good[:len(good)-1]},
		{"one character long", good + "a"},
		{"trailing newline", good + "\n"},
		{"leading space", " " + good[1:]},
		{"padding", good[:len(good)-1] + "="},
		{"not base32 (digit 1)", good[:10] + "1" + good[11:]},
		{"not base32 (digit 8)", good[:10] + "8" + good[11:]},
		{"zero checksum", func() string {
			var b [36]byte
			copy(b[:], bytes.Repeat([]byte{7}, 32))
			return SecretPrefix + encoding.EncodeToString(b[:])
		}()},
		{"newline inside", good[:20] + "\n" + good[21:]},
		{"multibyte", good[:len(good)-2] + "é"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := CheckSecretFormat(tt.secret); !errors.Is(err, ErrMalformedSecret) {
				t.Fatalf("CheckSecretFormat(%q) = %v, want ErrMalformedSecret", tt.secret, err)
			}
		})
	}
}

// TestCheckSecretFormatCatchesEveryTypo changes each character of real
// secrets into every other character of the lowerBase32: the checksum must
// refuse every such one-character typo before any lookup.
func TestCheckSecretFormatCatchesEveryTypo(t *testing.T) {
	for range 20 {
		s := mustSecret(t)
		for i := len(SecretPrefix); i < len(s); i++ {
			for _, c := range []byte(lowerBase32) {
				if c == s[i] {
					continue
				}
				typo := s[:i] + string(c) + s[i+1:]
				if err := CheckSecretFormat(typo); !errors.Is(err, ErrMalformedSecret) {
					t.Fatalf("typo at %d (%c→%c) accepted: CheckSecretFormat = %v", i, s[i], c, err)
				}
			}
		}
		// Two adjacent characters swapped is the other common typo.
		for i := len(SecretPrefix); i+1 < len(s); i++ {
			if s[i] == s[i+1] {
				continue
			}
			swapped := s[:i] + string(s[i+1]) + string(s[i]) + s[i+2:]
			if err := CheckSecretFormat(swapped); !errors.Is(err, ErrMalformedSecret) {
				t.Fatalf("transposition at %d accepted", i)
			}
		}
	}
}

func TestCheckSecretFormatDoesNotAllocate(t *testing.T) {
	s := mustSecret(t)
	bad := s[:len(s)-1] + "a"
	if n := testing.AllocsPerRun(100, func() {
		CheckSecretFormat(s)
		CheckSecretFormat(bad)
	}); n != 0 {
		t.Fatalf("CheckSecretFormat allocates %v times per call", n)
	}
}

func TestHash(t *testing.T) {
	a, b := mustSecret(t), mustSecret(t)
	ha, hb := HashSecret(a), HashSecret(b)
	if !ha.Equal(HashSecret(a)) {
		t.Fatal("hash of the same secret differs")
	}
	if ha.Equal(hb) {
		t.Fatal("hashes of different secrets are equal")
	}
	// The stored form is hex of SHA-256 and never contains the secret.
	str := ha.String()
	if len(str) != 64 || strings.Trim(str, "0123456789abcdef") != "" {
		t.Fatalf("Hash.String() = %q, want 64 lowercase hex digits", str)
	}
	if strings.Contains(str, a[len(SecretPrefix):]) {
		t.Fatal("hash contains the secret")
	}
	// Known answer: SHA-256("abc").
	if got := HashSecret("abc").String(); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("HashSecret(abc) = %s, not SHA-256", got)
	}
	parsed, err := ParseHash(str)
	if err != nil {
		t.Fatalf("ParseHash(%q): %v", str, err)
	}
	if !parsed.Equal(ha) || parsed != ha {
		t.Fatal("ParseHash(h.String()) != h")
	}
	upper, err := ParseHash(strings.ToUpper(str))
	if err != nil || upper != ha {
		t.Fatalf("ParseHash(upper case) = %v, %v", upper, err)
	}
}

func TestParseHashRefuses(t *testing.T) {
	good := HashSecret("x").String()
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"short", good[:62]},
		{"odd length", good[:63]},
		{"long", good + "00"},
		{"not hex", "zz" + good[2:]},
		{"secret instead of hash", "sapsk_" + good[6:]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseHash(tt.in); err == nil {
				t.Fatalf("ParseHash(%q) succeeded", tt.in)
			}
		})
	}
}

func TestHashEqualEveryByte(t *testing.T) {
	h := HashSecret("secret")
	for i := range h {
		o := h
		o[i] ^= 0x80
		if h.Equal(o) {
			t.Fatalf("hashes differing in byte %d compare equal", i)
		}
	}
	var zero Hash
	if zero.Equal(h) || h.Equal(zero) {
		t.Fatal("zero hash equals a real one")
	}
}
