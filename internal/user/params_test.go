package user

import (
	"strings"
	"testing"
)

// TestPasswordParams checks that hashes are made with the parameters
// configured, that zero means the defaults, and that parameters
// VerifyPassword would refuse are refused when hashing too.
func TestPasswordParams(t *testing.T) {
	for _, tc := range []struct {
		params PasswordParams
		want   string
	}{
		{CheapPasswordParams, "$m=64,t=1,p=1$"},
		{PasswordParams{Time: 2, MemoryKiB: 256, Threads: 2}, "$m=256,t=2,p=2$"},
		{PasswordParams{}, "$m=65536,t=3,p=4$"},
	} {
		h, err := tc.params.Hash("correct horse battery staple")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(h, tc.want) {
			t.Errorf("%+v made %q, want %s", tc.params, h, tc.want)
		}
		if ok, err := VerifyPassword(h, "correct horse battery staple"); !ok || err != nil {
			t.Errorf("%+v: own hash not verified: %v, %v", tc.params, ok, err)
		}
	}
	for _, bad := range []PasswordParams{{Time: 1, MemoryKiB: 4, Threads: 1}, {Time: 0, MemoryKiB: 64, Threads: 1}, {Time: 1, MemoryKiB: 2 << 20, Threads: 1}} {
		if _, err := bad.Hash("x"); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// TestParsePasswordParams: the setting reads a PHC parameter field, in any
// order, writes back what it read, refuses what argon2id cannot run or
// VerifyPassword would refuse, and tells weak parameters from sound ones.
func TestParsePasswordParams(t *testing.T) {
	for in, want := range map[string]PasswordParams{
		"":                   {},
		"m=65536,t=3,p=4":    DefaultPasswordParams,
		"p=1, t=1, m=64":     CheapPasswordParams,
		"m=19456,t=2,p=1":    {Time: 2, MemoryKiB: 19456, Threads: 1},
		"m=1048576,t=16,p=8": {Time: 16, MemoryKiB: 1 << 20, Threads: 8},
	} {
		got, err := ParsePasswordParams(in)
		if err != nil || got != want {
			t.Errorf("ParsePasswordParams(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if in != "" {
			if again, err := ParsePasswordParams(got.String()); err != nil || again != got {
				t.Errorf("%+v written as %q reads back as %+v, %v", got, got.String(), again, err)
			}
		}
	}
	for _, bad := range []string{"m=64", "m=64,t=1", "m=64,t=1,p=1,p=1", "m=64,t=1,q=1", "m=64,t=0,p=1",
		"m=64,t=17,p=1", "m=4,t=1,p=1", "m=2097152,t=1,p=1", "m=64,t=1,p=0", "m=-1,t=1,p=1", "m=64;t=1;p=1", "m=4096,t=1,p=256", "fast"} {
		if p, err := ParsePasswordParams(bad); err == nil {
			t.Errorf("ParsePasswordParams(%q) = %+v, want an error", bad, p)
		}
	}
	for p, weak := range map[PasswordParams]bool{
		{}: false, DefaultPasswordParams: false, CheapPasswordParams: true,
		{Time: 2, MemoryKiB: 19 * 1024, Threads: 1}: false, {Time: 1, MemoryKiB: 19 * 1024, Threads: 1}: true,
		{Time: 1, MemoryKiB: 46 * 1024, Threads: 1}: false, {Time: 3, MemoryKiB: 12 * 1024, Threads: 1}: true,
	} {
		if p.Weak() != weak {
			t.Errorf("%+v.Weak() = %v, want %v", p, !weak, weak)
		}
	}
}
