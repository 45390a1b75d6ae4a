// Package name holds the one rule for the names people give things in
// Sapient — credentials and organisations — so that the console, the REST
// API and the command line accept and refuse the same names, and two names
// that look alike cannot stand side by side; and Truncate, the one way text
// from outside is cut to fit where it is kept or shown.
//
// A name is stored as typed, trimmed and in Unicode Normalization Form C
// (UAX #15), so "cafe\u0301" is stored as "café". It may not hold control
// characters, invisible (default-ignorable) characters such as U+200B ZERO
// WIDTH SPACE, bidirectional controls such as U+202E RIGHT-TO-LEFT
// OVERRIDE, spaces other than U+0020, or U+FFFD, the mark of text that was
// not valid where it came from: each can make one name look like another,
// in the console and in the audit trail.
//
// Uniqueness is decided by Key, which folds case and width and the other
// compatibility variants (Unicode's caseless compatibility matching), so
// "Billing", "billing" and "ｂｉｌｌｉｎｇ" are one name.
package name

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Error is a name refused, with a message that can be shown to the person
// who typed it.
type Error struct{ Message string }

func (e *Error) Error() string { return "name: " + e.Message }

func refuse(format string, args ...any) *Error {
	return &Error{Message: fmt.Sprintf(format, args...)}
}

// Normalize trims s, puts it in NFC and checks it: 1 to maxLen characters
// (after normalisation) and none of the characters the package refuses.
// A refusal is an *Error.
func Normalize(s string, maxLen int) (string, error) {
	if !utf8.ValidString(s) {
		return "", refuse("Name must be valid UTF-8 text.")
	}
	s = norm.NFC.String(strings.TrimSpace(s))
	if s == "" {
		return "", refuse("Name is required.")
	}
	if n := utf8.RuneCountInString(s); n > maxLen {
		return "", refuse("Name must be at most %d characters (it has %d).", maxLen, n)
	}
	for _, r := range s {
		if err := checkRune(r); err != nil {
			return "", err
		}
	}
	return s, nil
}

// CheckText applies the character rules of Normalize to a longer text,
// such as a description, that may be empty.
func CheckText(s string) error {
	if !utf8.ValidString(s) {
		return refuse("Text must be valid UTF-8.")
	}
	for _, r := range s {
		if err := checkRune(r); err != nil {
			return &Error{Message: strings.Replace(err.Message, "Name", "Text", 1)}
		}
	}
	return nil
}

// checkRune refuses a character that may not appear in a name.
func checkRune(r rune) *Error {
	switch {
	case r == ' ':
		return nil
	case unicode.IsControl(r) || unicode.In(r, unicode.Zl, unicode.Zp):
		return refuse("Name must not contain control characters (it has %U).", r)
	case unicode.Is(unicode.Bidi_Control, r):
		return refuse("Name must not contain the bidirectional control character %U.", r)
	case unicode.Is(unicode.Zs, r):
		return refuse("Name must not contain the space character %U; use an ordinary space.", r)
	case invisible(r):
		return refuse("Name must not contain the invisible character %U.", r)
	case r == utf8.RuneError:
		return refuse("Name must not contain U+FFFD, the replacement character (the text was not valid where it came from).")
	case unicode.Is(unicode.Noncharacter_Code_Point, r) || unicode.Is(unicode.Co, r):
		return refuse("Name must not contain %U, which is not a character for interchange.", r)
	}
	return nil
}

// invisible reports whether r is a default-ignorable code point (Unicode
// §5.21): a format character (Cf, which includes the zero-width space and
// joiners and the byte order mark) or one of the other characters Unicode
// says to display as nothing, such as U+3164 HANGUL FILLER. Variation
// selectors are default-ignorable too, but they choose how a character
// such as an emoji is drawn, so they are allowed, and Key drops them.
func invisible(r rune) bool {
	return unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r)
}

// Key is the form of a normalised name under which names are unique:
// NFKC, case-folded, NFKC again (Unicode §3.13, caseless compatibility
// matching), without variation selectors and with runs of spaces as one.
// Full-width and half-width forms, ligatures, and letters that differ only
// in case have the same Key. The store keeps it beside the name and holds
// it unique.
func Key(s string) string {
	s = norm.NFKC.String(cases.Fold().String(norm.NFKC.String(s)))
	s = strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Variation_Selector, r) {
			return -1
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// Truncate shortens s to at most n bytes without cutting a UTF-8
// sequence.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
