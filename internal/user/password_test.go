package user

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
)

// phc is the PHC string format of an argon2id hash with Sapient's
// parameters: 16-byte salt and 32-byte key in unpadded standard base64.
var phc = regexp.MustCompile(`^\$argon2id\$v=19\$m=65536,t=3,p=4\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

func TestHashPasswordRoundTrip(t *testing.T) {
	const password = "correct horse battery staple"
	h, err := HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	if !phc.MatchString(h) {
		t.Fatalf("hash %q is not an argon2id PHC string with the expected parameters", h)
	}
	if strings.Contains(h, password) {
		t.Fatal("hash contains the password")
	}
	if ok, err := VerifyPassword(h, password); !ok || err != nil {
		t.Fatalf("VerifyPassword(the password) = %v, %v", ok, err)
	}
	// What is refused is the same at any cost: the cases below check a
	// hash at the cheapest parameters, a tenth of a second less each.
	cheap, err := CheapPasswordParams.Hash(password)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, password string
		want           bool
	}{
		{"same password", password, true},
		{"wrong password", "correct horse battery stapler", false},
		{"case differs", "Correct horse battery staple", false},
		{"trailing newline", password + "\n", false},
		{"empty", "", false},
		{"prefix", password[:10], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := VerifyPassword(cheap, tt.password)
			if err != nil {
				t.Fatalf("VerifyPassword: %v", err)
			}
			if ok != tt.want {
				t.Fatalf("VerifyPassword(%q) = %v, want %v", tt.password, ok, tt.want)
			}
		})
	}
	// The salt is random: the same password never hashes the same twice.
	h2, err := CheapPasswordParams.Hash(password)
	if err != nil {
		t.Fatal(err)
	}
	if h2 == cheap || strings.Split(h2, "$")[4] == strings.Split(cheap, "$")[4] {
		t.Fatal("two hashes of one password share their salt")
	}
	if ok, err := VerifyPassword(h2, password); !ok || err != nil {
		t.Fatalf("second hash: %v, %v", ok, err)
	}
}

// TestVerifyPasswordReadsParameters: a hash made with other argon2id
// parameters (an older or newer Sapient) still verifies, because the
// parameters come from the hash, not from the constants.
func TestVerifyPasswordReadsParameters(t *testing.T) {
	salt := []byte("0123456789abcdef")
	key := argon2.IDKey([]byte("s3cret password"), salt, 1, 1024, 1, 16)
	b64 := base64.RawStdEncoding
	h := fmt.Sprintf("$argon2id$v=%d$m=1024,t=1,p=1$%s$%s", argon2.Version, b64.EncodeToString(salt), b64.EncodeToString(key))
	if ok, err := VerifyPassword(h, "s3cret password"); !ok || err != nil {
		t.Fatalf("VerifyPassword(other parameters) = %v, %v", ok, err)
	}
	if ok, _ := VerifyPassword(h, "s3cret passwore"); ok {
		t.Fatal("wrong password accepted")
	}
	// The same key under other parameters is refused: they are bound in.
	for _, params := range []string{"m=2048,t=1,p=1", "m=1024,t=2,p=1", "m=1024,t=1,p=2"} {
		other := strings.Replace(h, "m=1024,t=1,p=1", params, 1)
		if ok, err := VerifyPassword(other, "s3cret password"); ok || err != nil {
			t.Fatalf("VerifyPassword with %s = %v, %v; want false", params, ok, err)
		}
	}
}

func TestVerifyPasswordMalformed(t *testing.T) {
	good, err := HashPassword("a password of some length")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, "$")
	with := func(i int, v string) string {
		p := append([]string(nil), parts...)
		p[i] = v
		return strings.Join(p, "$")
	}
	tests := []struct{ name, hash string }{
		{"empty", ""},
		{"plain text", "a password of some length"},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"argon2i", with(1, "argon2i")},
		{"argon2d", with(1, "argon2d")},
		{"too few parts", strings.Join(parts[:5], "$")},
		{"too many parts", good + "$extra"},
		{"old version", with(2, "v=16")},
		{"bad version", with(2, "v=x")},
		{"bad parameters", with(3, "m=x,t=3,p=4")},
		{"missing parameters", with(3, "m=65536")},
		{"salt not base64", with(4, "!!!!")},
		{"key not base64", with(5, "####")},
		{"padded base64 key", with(5, parts[5]+"=")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := VerifyPassword(tt.hash, "a password of some length")
			if err == nil || ok {
				t.Fatalf("VerifyPassword(%q) = %v, %v; want false and an error", tt.hash, ok, err)
			}
		})
	}
}

// TestVerifyPasswordRefusesHostileParameters: a tampered hash gives an
// error, never a panic or a huge allocation.
func TestVerifyPasswordRefusesHostileParameters(t *testing.T) {
	const salt, key = "c2FsdHNhbHRzYWx0c2FsdA", "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5"
	for _, h := range []string{
		"$argon2id$v=19$m=65536,t=0,p=4$" + salt + "$" + key,
		"$argon2id$v=19$m=65536,t=3,p=0$" + salt + "$" + key,
		"$argon2id$v=19$m=65536,t=3,p=4$" + salt + "$",
		"$argon2id$v=19$m=4294967295,t=3,p=4$" + salt + "$" + key,
		"$argon2id$v=19$m=1,t=3,p=4$" + salt + "$" + key,
	} {
		if ok, err := VerifyPassword(h, "password"); ok || err == nil {
			t.Errorf("VerifyPassword(%q) = %v, %v; want an error", h, ok, err)
		}
	}
}
