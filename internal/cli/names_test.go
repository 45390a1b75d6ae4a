package cli_test

import (
	"strings"
	"testing"

	"sapient.dev/sapient/internal/store/storetest"
)

// TestNamesAtTheCommandLine checks that the command line refuses the
// names the console and the API refuse, with the same message, and finds
// an organisation by any form of its name.
func TestNamesAtTheCommandLine(t *testing.T) {
	s := newSapient(t, storetest.Backends()[0])
	okJSON[orgOut](t, s, "", "orgs", "create", "Cafe\u0301 Müller", "--json")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"orgs", "create", "CAFÉ MÜLLER"}, "already"},
		{[]string{"orgs", "create", "acme\u200b"}, "Name must not contain the invisible character U+200B."},
		{[]string{"orgs", "create", "abc\u202egnp.exe"}, "Name must not contain the bidirectional control character U+202E."},
		{[]string{"credentials", "create", "--org", "Café Müller", "--name", "a-full\u200b"}, "Name must not contain the invisible character U+200B."},
		{[]string{"credentials", "create", "--org", "Café Müller", "--name", "bad\xffname"}, "Name must be valid UTF-8 text."},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			if line := s.fails(t, "", tc.args...); !strings.Contains(line, tc.want) {
				t.Errorf("error line %q does not say %q", line, tc.want)
			}
		})
	}
	// The organisation is found whatever the form of its name.
	created := okJSON[credOut](t, s, "", "credentials", "create", "--org", "ｃａｆé ｍüｌｌｅｒ", "--name", "a-full", "--json")
	if created.ClientID == "" {
		t.Fatal("no credential created")
	}
	line := s.fails(t, "", "credentials", "create", "--org", "Café Müller", "--name", "ａ-full")
	if !strings.Contains(line, "already") {
		t.Errorf("a look-alike credential name: %q", line)
	}
}
