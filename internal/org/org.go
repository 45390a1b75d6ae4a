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
		o.UpdatedAt = time.Now().UTC()
		return o, nil
	})
}

// Withdraw stops an organisation from granting the given scopes. Its
// credentials lose them at once: tokens issued afterwards lack them and
// tokens already issued are refused for them.
func Withdraw(ctx context.Context, s store.Orgs, orgID string, scopes []string, now time.Time) (store.Org, error) {
	return s.UpdateOrg(ctx, orgID, func(o store.Org) (store.Org, error) {
		o.Scopes = slices.DeleteFunc(o.Scopes, func(sc string) bool { return slices.Contains(scopes, sc) })
		o.UpdatedAt = now
		return o, nil
	})
}

// SetLimits sets an organisation's per-credential rate limits in requests
// per second; 0 means the server's default. Negative values are refused.
func SetLimits(ctx context.Context, s store.Orgs, orgID string, tokenRate, apiRate int, now time.Time) (store.Org, error) {
	if tokenRate < 0 || apiRate < 0 || tokenRate > 1_000_000 || apiRate > 1_000_000 {
		return store.Org{}, errors.New("org: rate limits must be between 0 (the server's default) and 1000000 requests per second")
	}
	return s.UpdateOrg(ctx, orgID, func(o store.Org) (store.Org, error) {
		o.TokenRateLimit, o.APIRateLimit, o.UpdatedAt = tokenRate, apiRate, now
		return o, nil
	})
}
