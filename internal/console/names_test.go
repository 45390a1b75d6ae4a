package console_test

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestNamesAtTheConsole checks that the console refuses the names the
// API and the CLI refuse, with the same message (one validator, package
// name), and that a name like one taken is refused as taken.
func TestNamesAtTheConsole(t *testing.T) {
	h := newHarness(t, sqlite)
	o := h.org(t, "Acme")
	h.user(t, "alice@acme.test", o.ID)
	c := h.client(t)
	c.login("alice@acme.test")
	if r := c.post("/credentials", url.Values{"name": {"a-full"}}); r.Status != http.StatusOK {
		t.Fatalf("create a-full: %d\n%s", r.Status, r.Body)
	}
	for _, tc := range []struct{ name, want string }{
		{"bad\xff\xfename", "Name must be valid UTF-8 text."},
		{"a-full\u200b", "Name must not contain the invisible character U+200B."},
		{"abc\u202egnp.exe", "Name must not contain the bidirectional control character U+202E."},
		{"ａ-full", "already"},
		{"A-FULL", "already"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.post("/credentials", url.Values{"name": {tc.name}})
			if r.Status != http.StatusUnprocessableEntity || !strings.Contains(html.UnescapeString(r.Body), tc.want) {
				t.Fatalf("create %+q: %d, want 422 saying %q\n%s", tc.name, r.Status, tc.want, r.Body)
			}
		})
	}
}
