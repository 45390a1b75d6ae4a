package scope_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/scope"
	"sapient.dev/sapient/internal/store/storetest"
)

// TestScopeNamesCannotLookAlike checks that scope names, which are
// scope-tokens of lower-case ASCII (RFC 6749 §3.3), refuse the characters
// that make names look alike.
func TestScopeNamesCannotLookAlike(t *testing.T) {
	for _, bad := range []string{"ｓhipments:read", "shipments:read\u200b", "Shipments:read", "abc\u202egnp", "café:read"} {
		if scope.ValidName(bad) {
			t.Errorf("scope name %+q accepted", bad)
		}
	}
}

// TestScopeDescriptionsCannotHide checks that a scope's description, shown
// beside its name, refuses the characters names refuse.
func TestScopeDescriptionsCannotHide(t *testing.T) {
	s := storetest.New(t, storetest.Backends()[0])
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	for _, bad := range []string{"Read shipments\u202e", "Read\u200bshipments", "Read\x00shipments"} {
		_, err := scope.Create(t.Context(), s, access.CLI, "shipments:read", bad, now)
		var derr *scope.DescriptionError
		if !errors.As(err, &derr) || !strings.HasPrefix(derr.Message, "Description must not contain") {
			t.Errorf("description %+q: %v, want a DescriptionError", bad, err)
		}
	}
	if _, err := scope.Create(t.Context(), s, access.CLI, "shipments:read", "Read shipments – Müller", now); err != nil {
		t.Fatal(err)
	}
}
