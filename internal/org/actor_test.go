package org_test

import (
	"errors"
	"testing"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/org"
	"sapient.dev/sapient/internal/scope"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
)

// TestOnlyAdmins: organisations and scopes are created and changed by an
// Admin (or the CLI) only; anyone else is refused and nothing changes.
func TestOnlyAdmins(t *testing.T) {
	s := storetest.New(t, storetest.Backends()[0])
	ctx, now := t.Context(), time.Now()
	acme, err := org.Create(ctx, s, access.CLI, "Acme", now)
	if err != nil {
		t.Fatal(err)
	}
	for _, actor := range []access.Actor{
		{Kind: access.KindUser, ID: "usr_1", Role: store.RoleCustomer, OrgID: acme.ID},
		access.Credential("sapci_1", "robot", acme.ID, []string{"credentials:write"}),
		access.System,
	} {
		if _, err := org.Create(ctx, s, actor, "Beta", now); !errors.Is(err, org.ErrForbidden) {
			t.Errorf("%s creates an organisation: %v", actor.Kind, err)
		}
		if _, err := org.SetLimits(ctx, s, actor, acme.ID, 1, 1, time.Now); !errors.Is(err, org.ErrForbidden) {
			t.Errorf("%s sets limits: %v", actor.Kind, err)
		}
		if _, err := org.Grant(ctx, s, actor, acme.ID, []string{scope.AuditRead}, time.Now); !errors.Is(err, org.ErrForbidden) {
			t.Errorf("%s grants: %v", actor.Kind, err)
		}
		if _, err := scope.Create(ctx, s, actor, "x:read", "", now); !errors.Is(err, scope.ErrForbidden) {
			t.Errorf("%s defines a scope: %v", actor.Kind, err)
		}
	}
	if list, _ := s.ListOrgs(ctx); len(list) != 1 {
		t.Errorf("%d organisations, want 1", len(list))
	}
	if got, _ := s.GetOrg(ctx, acme.ID); got.TokenRateLimit != 0 {
		t.Errorf("limits changed: %+v", got)
	}
}
