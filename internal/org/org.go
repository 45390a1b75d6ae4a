// Package org owns customer organisations and the scopes each may grant.
package org

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"sapient.dev/sapient/internal/scope"
	"sapient.dev/sapient/internal/store"
)

// ErrInvalidName is returned for an empty or over-long organisation name.
var ErrInvalidName = errors.New("org: name must be 1-100 characters")

// Create makes an organisation that may grant the default scopes.
func Create(ctx context.Context, s store.Orgs, name string, now time.Time) (store.Org, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 100 {
		return store.Org{}, ErrInvalidName
	}
	o := store.Org{ID: "org_" + strings.ToLower(rand.Text()[:16]), Name: name, Scopes: scope.DefaultGrant(), CreatedAt: now}
	if err := s.CreateOrg(ctx, o); err != nil {
		return store.Org{}, fmt.Errorf("org: create %q: %w", name, err)
	}
	return o, nil
}

// Grant lets an organisation grant the given defined scopes, in addition
// to those it had.
func Grant(ctx context.Context, s store.Store, orgID string, scopes []string) (store.Org, error) {
	defined, err := s.ListScopes(ctx)
	if err != nil {
		return store.Org{}, fmt.Errorf("org: grant: %w", err)
	}
	known := map[string]bool{}
	for _, d := range defined {
		known[d.Name] = true
	}
	for _, sc := range scopes {
		if !known[sc] {
			return store.Org{}, fmt.Errorf("org: grant: unknown scope %q", sc)
		}
	}
	return s.UpdateOrg(ctx, orgID, func(o store.Org) (store.Org, error) {
		for _, sc := range scopes {
			if !slices.Contains(o.Scopes, sc) {
				o.Scopes = append(o.Scopes, sc)
			}
		}
		return o, nil
	})
}
