package name_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"sapient.dev/sapient/internal/name"
)

func TestNormalize(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		refused  string // in the message; empty when accepted
	}{
		{"  billing  ", "billing", ""},
		{"café", "café", ""},
		{"cafe\u0301", "café", ""}, // NFD becomes NFC
		{"ａ-full", "ａ-full", ""},   // kept as typed; Key folds it
		{"Zahlungen ☕️", "Zahlungen ☕️", ""},
		{"", "", "required"},
		{" \t ", "", "required"},
		{"bad\xff\xfename", "", "valid UTF-8"},
		{"bad\ufffdname", "", "U+FFFD"},
		{"a-full\u200b", "", "invisible character U+200B"},
		{"a\u2060b", "", "invisible character U+2060"},
		{"a\ufeffb", "", "invisible character U+FEFF"},
		{"a\u00adb", "", "invisible character U+00AD"},
		{"\u3164x", "", "invisible character U+3164"},
		{"abc\u202egnp.exe", "", "bidirectional control character U+202E"},
		{"a\u2066b", "", "bidirectional control character U+2066"},
		{"a\u200fb", "", "bidirectional control character U+200F"},
		{"a\tb", "", "control characters"},
		{"a\u2028b", "", "control characters"},
		{"a\u00a0b", "", "space character U+00A0"},
		{"a\u3000b", "", "space character U+3000"},
		{"a\ue000b", "", "U+E000"},
		{strings.Repeat("x", 65), "", "at most 64 characters (it has 65)"},
		{strings.Repeat("é", 64), strings.Repeat("é", 64), ""},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := name.Normalize(tc.in, 64)
			if tc.refused == "" {
				if err != nil || got != tc.want {
					t.Fatalf("Normalize(%+q) = %+q, %v; want %+q", tc.in, got, err, tc.want)
				}
				return
			}
			var nerr *name.Error
			if !errors.As(err, &nerr) || !strings.Contains(nerr.Message, tc.refused) {
				t.Fatalf("Normalize(%+q) = %+q, %v; want a refusal saying %q", tc.in, got, err, tc.refused)
			}
		})
	}
}

func TestKeyJoinsLookAlikes(t *testing.T) {
	for _, group := range [][]string{
		{"café", "cafe\u0301", "CAFÉ", "Café"},
		{"a-full", "ａ-full", "Ａ－ＦＵＬＬ", "A-Full"},
		{"straße", "STRASSE", "strasse"},
		{"ﬁle", "file"},
		{"team  one", "team one", "Team One"},
		{"☕️", "☕"},
	} {
		want := name.Key(norm(t, group[0]))
		for _, s := range group[1:] {
			if got := name.Key(norm(t, s)); got != want {
				t.Errorf("Key(%+q) = %+q, Key(%+q) = %+q: want them equal", s, got, group[0], want)
			}
		}
	}
	for _, pair := range [][2]string{{"billing", "billings"}, {"a-full", "a_full"}, {"café", "cafe"}} {
		if name.Key(pair[0]) == name.Key(pair[1]) {
			t.Errorf("Key(%q) == Key(%q); want different names kept apart", pair[0], pair[1])
		}
	}
}

func norm(t *testing.T, s string) string {
	t.Helper()
	n, err := name.Normalize(s, 64)
	if err != nil {
		t.Fatalf("Normalize(%+q): %v", s, err)
	}
	return n
}

func TestCheckText(t *testing.T) {
	if err := name.CheckText(""); err != nil {
		t.Errorf("empty text refused: %v", err)
	}
	if err := name.CheckText("Read the shipments of the organisation"); err != nil {
		t.Errorf("plain text refused: %v", err)
	}
	if err := name.CheckText("read \u202eexe"); err == nil || !strings.HasPrefix(err.(*name.Error).Message, "Text must not") {
		t.Errorf("bidi override in text: %v", err)
	}
}

// TestTruncate: text is cut to at most n bytes, never inside a character.
func TestTruncate(t *testing.T) {
	for _, tt := range []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 5, "abc"},
		{"abc", 3, "abc"},
		{"abcdef", 3, "abc"},
		{"café", 4, "caf"}, // é is two bytes, from the fourth
		{"café", 5, "café"},
		{"日本", 4, "日"},
		{"日本", 2, ""},
	} {
		got := name.Truncate(tt.in, tt.n)
		if got != tt.want || !utf8.ValidString(got) {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}
