package org_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/audit"
	"sapient.dev/sapient/internal/org"
	"sapient.dev/sapient/internal/scope"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
)

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

// at is a clock that always reads t.
func at(t time.Time) func() time.Time { return func() time.Time { return t } }

// TestChangesAndTheirEvents: every change to an organisation is written
// with its audit event; a refused or empty change writes neither.
func TestChangesAndTheirEvents(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		s := storetest.New(t, b)
		ctx := t.Context()
		if err := scope.EnsureBuiltin(ctx, s, t0); err != nil {
			t.Fatal(err)
		}
		if _, err := scope.Create(ctx, s, access.CLI, "shipments:read", "Read shipments", t0.Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
		acme, err := org.Create(ctx, s, access.CLI, "Acme", t0)
		if err != nil {
			t.Fatal(err)
		}
		count := func() int {
			list, err := s.ListAudit(ctx, store.AuditFilter{})
			if err != nil {
				t.Fatal(err)
			}
			return len(list)
		}
		last := func() store.AuditEvent {
			list, _ := s.ListAudit(ctx, store.AuditFilter{Limit: 1})
			return list[0]
		}
		if e := last(); e.Action != audit.OrgCreated || e.OrgID != acme.ID || e.ActorKind != string(access.KindCLI) {
			t.Errorf("create wrote %+v", e)
		}

		changes := []struct {
			name   string
			change func() (store.Org, error)
			detail string // "" for no event
			scopes []string
		}{
			{"grant", func() (store.Org, error) {
				return org.Grant(ctx, s, access.CLI, acme.ID, []string{"shipments:read"}, at(t0.Add(time.Minute)))
			}, "scopes granted: shipments:read", append(scope.DefaultGrant(), "shipments:read")},
			{"grant again", func() (store.Org, error) {
				return org.Grant(ctx, s, access.CLI, acme.ID, []string{"shipments:read"}, at(t0.Add(2*time.Minute)))
			}, "", append(scope.DefaultGrant(), "shipments:read")},
			{"withdraw", func() (store.Org, error) {
				return org.Withdraw(ctx, s, access.CLI, acme.ID, []string{"usage:read", "audit:read", "webhooks:read", "webhooks:write"}, at(t0.Add(3*time.Minute)))
			}, "scopes withdrawn: audit:read usage:read webhooks:read webhooks:write", []string{"credentials:read", "credentials:write", "shipments:read"}},
			{"set scopes", func() (store.Org, error) {
				return org.SetScopes(ctx, s, access.CLI, acme.ID, []string{"usage:read", "shipments:read", "usage:read"}, at(t0.Add(4*time.Minute)))
			}, "scopes granted: usage:read; scopes withdrawn: credentials:read credentials:write", []string{"shipments:read", "usage:read"}},
			{"set the same scopes", func() (store.Org, error) {
				return org.SetScopes(ctx, s, access.CLI, acme.ID, []string{"shipments:read", "usage:read"}, at(t0.Add(5*time.Minute)))
			}, "", []string{"shipments:read", "usage:read"}},
			{"set limits", func() (store.Org, error) {
				return org.SetLimits(ctx, s, access.CLI, acme.ID, 5, 0, at(t0.Add(6*time.Minute)))
			}, "rate limits: token endpoint 5/s, API calls the server's default", []string{"shipments:read", "usage:read"}},
		}
		for _, c := range changes {
			before := count()
			o, err := c.change()
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if !slices.Equal(slices.Sorted(slices.Values(o.Scopes)), slices.Sorted(slices.Values(c.scopes))) {
				t.Errorf("%s: scopes %v, want %v", c.name, o.Scopes, c.scopes)
			}
			switch n := count() - before; {
			case c.detail == "" && n != 0:
				t.Errorf("%s changed nothing but wrote %d events", c.name, n)
			case c.detail != "" && n != 1:
				t.Errorf("%s wrote %d events, want 1", c.name, n)
			case c.detail != "":
				if e := last(); e.Action != audit.OrgUpdated || e.Detail != c.detail || e.OrgID != acme.ID {
					t.Errorf("%s wrote %s %q, want %q", c.name, e.Action, e.Detail, c.detail)
				}
			}
		}
		if o, _ := s.GetOrg(ctx, acme.ID); o.TokenRateLimit != 5 || o.Version <= acme.Version {
			t.Errorf("stored %+v", o)
		}

		refused := []struct {
			name   string
			change func() error
			check  func(error) bool
		}{
			{"duplicate name", func() error { _, err := org.Create(ctx, s, access.CLI, "ACME", t0); return err },
				func(err error) bool { return errors.Is(err, store.ErrAlreadyExists) }},
			{"empty name", func() error { _, err := org.Create(ctx, s, access.CLI, " ", t0); return err },
				func(err error) bool { return errors.Is(err, org.ErrInvalidName) }},
			{"unknown scope", func() error {
				_, err := org.SetScopes(ctx, s, access.CLI, acme.ID, []string{"nope:read"}, at(t0))
				return err
			}, func(err error) bool { var se *org.ScopeError; return errors.As(err, &se) && se.Scope == "nope:read" }},
			{"Admin-only scope", func() error {
				_, err := org.SetScopes(ctx, s, access.CLI, acme.ID, []string{scope.Introspect}, at(t0))
				return err
			}, func(err error) bool { var se *org.ScopeError; return errors.As(err, &se) }},
			{"grant unknown", func() error {
				_, err := org.Grant(ctx, s, access.CLI, acme.ID, []string{"nope:read"}, at(t0))
				return err
			}, func(err error) bool { var se *org.ScopeError; return errors.As(err, &se) }},
			{"unknown organisation", func() error {
				_, err := org.SetLimits(ctx, s, access.CLI, "org_nope", 1, 1, at(t0))
				return err
			}, func(err error) bool { return errors.Is(err, store.ErrNotFound) }},
			{"negative limit", func() error {
				_, err := org.SetLimits(ctx, s, access.CLI, acme.ID, -1, 1, at(t0))
				return err
			}, func(err error) bool { return err != nil }},
			{"duplicate scope", func() error {
				_, err := scope.Create(ctx, s, access.CLI, "shipments:read", "", t0)
				return err
			}, func(err error) bool { return errors.Is(err, store.ErrAlreadyExists) }},
		}
		for _, r := range refused {
			before := count()
			if err := r.change(); !r.check(err) {
				t.Errorf("%s: err = %v", r.name, err)
			}
			if n := count() - before; n != 0 {
				t.Errorf("%s was refused but wrote %d events", r.name, n)
			}
		}
	})
}
