package org_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/org"
	"sapient.dev/sapient/internal/scope"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
)

// TestOrgNamesThatLookAlike checks that organisation names follow the
// same rule as credential names: stored in NFC, unique whatever their
// case or width, found by any of those forms, and refused with invisible
// or bidirectional control characters.
func TestOrgNamesThatLookAlike(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		ctx := t.Context()
		s := storetest.New(t, b)
		now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
		if err := scope.EnsureBuiltin(ctx, s, now); err != nil {
			t.Fatal(err)
		}
		o, err := org.Create(ctx, s, access.CLI, "Cafe\u0301 Müller", now)
		if err != nil {
			t.Fatal(err)
		}
		if o.Name != "Café Müller" {
			t.Errorf("stored %+q, want the NFC name", o.Name)
		}
		for _, alike := range []string{"Café Müller", "CAFÉ MÜLLER", "ｃａｆé ｍüｌｌｅｒ", "café  müller"} {
			if _, err := org.Create(ctx, s, access.CLI, alike, now); !errors.Is(err, store.ErrAlreadyExists) {
				t.Errorf("Create(%+q) beside %+q: %v, want ErrAlreadyExists", alike, o.Name, err)
			}
			if got, err := s.GetOrgByName(ctx, alike); err != nil || got.ID != o.ID {
				t.Errorf("GetOrgByName(%+q) = %v, %v; want %s", alike, got.ID, err, o.ID)
			}
		}
		for _, bad := range []string{"acme\u200b", "abc\u202egnp.exe", "", strings.Repeat("x", 101)} {
			_, err := org.Create(ctx, s, access.CLI, bad, now)
			var nerr *org.NameError
			if !errors.Is(err, org.ErrInvalidName) || !errors.As(err, &nerr) || nerr.Message == "" {
				t.Errorf("Create(%+q): %v, want a NameError", bad, err)
			}
		}
	})
}
