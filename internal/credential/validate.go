package credential

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/clientip"
	"sapient.dev/sapient/internal/name"
	"sapient.dev/sapient/internal/store"
)

// MaxNameLen is the longest credential name, in characters.
const MaxNameLen = 64

// ValidationError is a bad input that the caller can correct. Field names
// the input ("name", "scopes", "org", "expires_at"); Message is safe to show.
type ValidationError struct {
	Field   string
	Message string
}

func (e *ValidationError) Error() string { return "credential: " + e.Field + ": " + e.Message }

func invalid(field, format string, args ...any) *ValidationError {
	return &ValidationError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// NormalizeName trims a credential name, puts it in NFC and checks it
// with the rules of package name: 1 to 64 characters, no control,
// invisible or bidirectional control characters. The console, the REST API
// and the CLI all call it; the store holds names unique by name.Key.
func NormalizeName(s string) (string, error) {
	n, err := name.Normalize(s, MaxNameLen)
	if err != nil {
		var nerr *name.Error
		if errors.As(err, &nerr) {
			return "", invalid("name", "%s", nerr.Message)
		}
		return "", err
	}
	return n, nil
}

// ParseScopes splits a space-separated scope list (RFC 6749 §3.3) into
// sorted unique names.
func ParseScopes(s string) []string {
	f := strings.Fields(s)
	slices.Sort(f)
	return slices.Compact(f)
}

// checkScopes verifies that every requested scope is defined and that the
// actor may grant it to a credential of org: an Admin may grant any defined
// scope; a Customer only scopes granted to the organisation that are not
// reserved for Admins.
func checkScopes(requested []string, defined []store.Scope, org store.Org, actor access.Actor) error {
	for _, name := range requested {
		i := slices.IndexFunc(defined, func(s store.Scope) bool { return s.Name == name })
		if i < 0 {
			return invalid("scopes", "Unknown scope %q.", name)
		}
		if actor.IsAdmin() {
			continue
		}
		if defined[i].AdminOnly || !slices.Contains(org.Scopes, name) {
			return invalid("scopes", "Scope %q is not available to your organisation.", name)
		}
		if actor.Kind == access.KindCredential && !slices.Contains(actor.Scopes, name) {
			// A credential may not mint one with more power than itself.
			return invalid("scopes", "Scope %q cannot be granted by a credential that does not hold it.", name)
		}
	}
	return nil
}

// MaxAllowedCIDRs bounds an IP allow-list.
const MaxAllowedCIDRs = 100

// NormalizeCIDRs checks an IP allow-list and returns it in canonical form:
// masked prefixes, sorted, without duplicates. A bare address stands for
// itself alone.
func NormalizeCIDRs(list []string) ([]string, error) {
	out := make([]string, 0, len(list))
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		p, err := clientip.ParsePrefix(s)
		if err != nil {
			return nil, invalid("allowed_cidrs", "%s.", capitalize(err.Error()))
		}
		out = append(out, p.String())
	}
	if len(out) > MaxAllowedCIDRs {
		return nil, invalid("allowed_cidrs", "At most %d addresses or networks.", MaxAllowedCIDRs)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// ScopeListHas reports whether the space-separated scope list holds s,
// without allocating.
func ScopeListHas(list, s string) bool {
	for list != "" {
		var f string
		f, list, _ = strings.Cut(list, " ")
		if f == s {
			return true
		}
	}
	return false
}
