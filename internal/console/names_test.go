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

// TestScopeDescriptionAtTheConsole checks that a scope description with a
// bidirectional override is refused on the form, not answered 500.
func TestScopeDescriptionAtTheConsole(t *testing.T) {
	h := newHarness(t, sqlite)
	h.user(t, "admin@sapient.test", "")
	c := h.client(t)
	c.login("admin@sapient.test")
	r := c.post("/admin/scopes", url.Values{"name": {"shipments:read"}, "description": {"Read shipments\u202e"}})
	if r.Status != http.StatusUnprocessableEntity ||
		!strings.Contains(html.UnescapeString(r.Body), "Description must not contain the bidirectional control character U+202E.") {
		t.Fatalf("scope with a bidirectional override in its description: %d\n%s", r.Status, r.Body)
	}
}
