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
