package cli_test

import (
	"strings"
	"testing"

	"sapient.dev/sapient/internal/store/storetest"
)

// TestUnknownCommandsFail holds PRODUCT's rule for scripts: an unknown
// command, subcommand or flag, or a group named without a command, exits
// non-zero with one line on standard error; only --help prints help and
// exits 0.
func TestUnknownCommandsFail(t *testing.T) {
	s := newSapient(t, storetest.Backends()[0])
	for _, tc := range []struct {
		args []string
		want string // in the error line
	}{
		{[]string{"credentials", "frobnicate"}, `unknown command "frobnicate" for "sapient credentials"`},
		{[]string{"users", "disable-everyone", "x"}, `unknown command "disable-everyone" for "sapient users"`},
		{[]string{"keys", "no-such-verb", "abc"}, `unknown command "no-such-verb" for "sapient keys"`},
		{[]string{"orgs", "frobnicate"}, `unknown command "frobnicate" for "sapient orgs"`},
		{[]string{"scopes", "frobnicate"}, `unknown command "frobnicate" for "sapient scopes"`},
		{[]string{"frobnicate"}, `unknown command "frobnicate" for "sapient"`},
		{[]string{"credentials"}, `"sapient credentials" needs a command`},
		{[]string{}, `"sapient" needs a command`},
		{[]string{"credentials", "--frobnicate"}, "unknown flag: --frobnicate"},
		{[]string{"credentials", "list", "--frobnicate"}, "unknown flag: --frobnicate"},
		{[]string{"credentials", "list", "extra"}, `unknown command "extra"`},
		{[]string{"help", "frobnicate"}, `unknown help topic "frobnicate"`},
		{[]string{"help", "credentials", "frobnicate"}, `unknown help topic "credentials frobnicate"`},
		{[]string{"completion"}, `"sapient completion" needs a command`},
		{[]string{"completion", "frobnicate"}, `unknown command "frobnicate" for "sapient completion"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			if line := s.fails(t, "", tc.args...); !strings.Contains(line, tc.want) {
				t.Errorf("error line %q does not say %q", line, tc.want)
			}
		})
	}
	for _, args := range [][]string{{"--help"}, {"credentials", "--help"}, {"users", "--help"}, {"keys", "--help"}, {"help", "credentials"}, {"help", "credentials", "create"}, {"help"}} {
		if out := s.ok(t, "", args...); !strings.Contains(out, "Usage:") {
			t.Errorf("sapient %s printed no help:\n%s", strings.Join(args, " "), out)
		}
	}
}
