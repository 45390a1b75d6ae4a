package oauth

import (
	"strings"

	"sapient.dev/sapient/internal/credential"
)

// errScopeSyntax answers a scope parameter that is not a list of scope
// tokens separated by spaces.
var errScopeSyntax = &authError{ErrInvalidRequest,
	"scope must be scope names separated by spaces (U+0020); other whitespace and control characters are not allowed."}

// parseScopeParam reads the scope parameter of a token request (RFC 6749
// §3.3): scope = scope-token *( SP scope-token ), where a scope-token is
// one or more NQCHAR (%x21 / %x23-5B / %x5D-7E) and SP is %x20 alone.
// Tabs, newlines, no-break and other Unicode spaces are not separators but
// invalid characters, so the request is refused rather than split on
// them. Extra spaces between, before or after names are tolerated. The
// names come back sorted and without repeats; none means the parameter
// was empty.
func parseScopeParam(s string) ([]string, *authError) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != ' ' && !isNQChar(c) {
			return nil, errScopeSyntax
		}
	}
	if strings.TrimLeft(s, " ") == "" {
		return nil, nil
	}
	return credential.ParseScopes(s), nil
}

// isNQChar reports whether c is an NQCHAR of RFC 6749 Appendix A: a
// printable ASCII character other than space, '"' and '\'.
func isNQChar(c byte) bool {
	return c == 0x21 || (c >= 0x23 && c <= 0x5B) || (c >= 0x5D && c <= 0x7E)
}
