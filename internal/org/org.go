// Package org owns customer organisations and the scopes each may grant.
// Every change is written with its audit event in one transaction.
package org

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/audit"
	"sapient.dev/sapient/internal/name"
	"sapient.dev/sapient/internal/scope"
	"sapient.dev/sapient/internal/store"
)

// ErrInvalidName matches every refused organisation name (see NameError).
var ErrInvalidName = errors.New("org: invalid name")

// ErrForbidden is returned to an actor without Admin authority: only an
// Admin (or the CLI, which acts as one) creates or changes organisations.
var ErrForbidden = errors.New("org: only an Admin may create or change organisations")

// allowed refuses every actor but an Admin.
func allowed(actor access.Actor) error {
	if !actor.IsAdmin() {
		return ErrForbidden
	}
	return nil
}

// MaxNameLen is the longest organisation name, in characters.
const MaxNameLen = 100

// NameError is a refused organisation name: empty, over MaxNameLen
// characters, or holding a character package name refuses. Message can be
// shown to the person who typed it. It matches ErrInvalidName.
type NameError struct{ Message string }

func (e *NameError) Error() string { return "org: " + e.Message }

// Is makes a NameError match ErrInvalidName.
func (e *NameError) Is(target error) bool { return target == ErrInvalidName }

// NormalizeName trims an organisation name, puts it in NFC and checks it
// with the rules of package name; the store holds names unique by
// name.Key.
func NormalizeName(s string) (string, error) {
	n, err := name.Normalize(s, MaxNameLen)
	var nerr *name.Error
	if errors.As(err, &nerr) {
		return "", &NameError{Message: nerr.Message}
	}
	return n, err
}

// ScopeError is returned for a scope an organisation may not be allowed to
// grant: one that is not defined, or (for SetScopes) one reserved for
// Admins.
type ScopeError struct{ Scope string }

func (e *ScopeError) Error() string {
	return fmt.Sprintf("org: scope %q is unknown or may not be granted by an organisation", e.Scope)
}

// Create makes an organisation that may grant the default scopes.
func Create(ctx context.Context, s store.Store, actor access.Actor, name string, now time.Time) (store.Org, error) {
	if err := allowed(actor); err != nil {
		return store.Org{}, err
	}
	name, err := NormalizeName(name)
	if err != nil {
		return store.Org{}, err
	}
	now = now.UTC().Truncate(time.Microsecond)
	o := store.Org{ID: "org_" + strings.ToLower(rand.Text()[:16]), Name: name, Scopes: scope.DefaultGrant(), CreatedAt: now}
	err = s.InTx(ctx, func(tx store.Store) error {
		if err := tx.CreateOrg(ctx, o); err != nil {
			return err
		}
		return audit.Write(ctx, tx, actor, audit.OrgCreated, o.ID, o.ID,
			fmt.Sprintf("name %q, may grant %q", o.Name, strings.Join(o.Scopes, " ")), now)
	})
	if err != nil {
		return store.Org{}, fmt.Errorf("org: create %q: %w", name, err)
	}
	return o, nil
}

// Grant lets an organisation grant the given defined scopes, in addition
// to those it had.
func Grant(ctx context.Context, s store.Store, actor access.Actor, orgID string, scopes []string, now func() time.Time) (store.Org, error) {
	if err := allowed(actor); err != nil {
		return store.Org{}, err
	}
	defined, err := s.ListScopes(ctx)
	if err != nil {
		return store.Org{}, fmt.Errorf("org: grant: %w", err)
	}
	for _, sc := range scopes {
		if !slices.ContainsFunc(defined, func(d store.Scope) bool { return d.Name == sc }) {
			return store.Org{}, &ScopeError{sc}
		}
	}
	return update(ctx, s, actor, orgID, now, "grant", func(o *store.Org) string {
		var added []string
		for _, sc := range scopes {
			if !slices.Contains(o.Scopes, sc) {
				o.Scopes = append(o.Scopes, sc)
				added = append(added, sc)
			}
		}
		return describe("granted", added)
	})
}

// Withdraw stops an organisation from granting the given scopes. Its
// credentials lose them at once: tokens issued afterwards lack them and
// tokens already issued are refused for them.
func Withdraw(ctx context.Context, s store.Store, actor access.Actor, orgID string, scopes []string, now func() time.Time) (store.Org, error) {
	return update(ctx, s, actor, orgID, now, "withdraw", func(o *store.Org) string {
		var removed []string
		o.Scopes = slices.DeleteFunc(o.Scopes, func(sc string) bool {
			if slices.Contains(scopes, sc) {
				removed = append(removed, sc)
				return true
			}
			return false
		})
		return describe("withdrawn", removed)
	})
}

// CheckScopes accepts scopes an organisation may be allowed to grant:
// defined and not reserved for Admins. It returns them sorted without
// duplicates, or a *ScopeError naming the first it refuses.
func CheckScopes(ctx context.Context, s store.Scopes, scopes []string) ([]string, error) {
	defined, err := s.ListScopes(ctx)
	if err != nil {
		return nil, fmt.Errorf("org: scopes: %w", err)
	}
	out := []string{}
	for _, sc := range scopes {
		i := slices.IndexFunc(defined, func(d store.Scope) bool { return d.Name == sc })
		if i < 0 || defined[i].AdminOnly {
			return nil, &ScopeError{sc}
		}
		out = append(out, sc)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// SetScopes replaces the set of scopes an organisation may grant with
// scopes (see CheckScopes). Scopes it loses are withdrawn from its
// credentials as by Withdraw.
func SetScopes(ctx context.Context, s store.Store, actor access.Actor, orgID string, scopes []string, now func() time.Time) (store.Org, error) {
	if err := allowed(actor); err != nil {
		return store.Org{}, err
	}
	scopes, err := CheckScopes(ctx, s, scopes)
	if err != nil {
		return store.Org{}, err
	}
	return update(ctx, s, actor, orgID, now, "set scopes", func(o *store.Org) string {
		var added, removed []string
		for _, sc := range scopes {
			if !slices.Contains(o.Scopes, sc) {
				added = append(added, sc)
			}
		}
		for _, sc := range o.Scopes {
			if !slices.Contains(scopes, sc) {
				removed = append(removed, sc)
			}
		}
		o.Scopes = scopes
		return strings.Join(slices.DeleteFunc([]string{describe("granted", added), describe("withdrawn", removed)},
			func(s string) bool { return s == "" }), "; ")
	})
}

// SetLimits sets an organisation's per-credential rate limits in requests
// per second; 0 means the server's default. Negative values are refused.
func SetLimits(ctx context.Context, s store.Store, actor access.Actor, orgID string, tokenRate, apiRate int, now func() time.Time) (store.Org, error) {
	if tokenRate < 0 || apiRate < 0 || tokenRate > 1_000_000 || apiRate > 1_000_000 {
		return store.Org{}, errors.New("org: rate limits must be between 0 (the server's default) and 1000000 requests per second")
	}
	return update(ctx, s, actor, orgID, now, "set limits", func(o *store.Org) string {
		if o.TokenRateLimit == tokenRate && o.APIRateLimit == apiRate {
			return ""
		}
		o.TokenRateLimit, o.APIRateLimit = tokenRate, apiRate
		return fmt.Sprintf("rate limits: token endpoint %s, API calls %s", rate(tokenRate), rate(apiRate))
	})
}

// update changes one organisation with change, which returns a description
// of what it changed ("" for nothing). A change is written with its
// organisation.updated event in one transaction; no change writes neither.
//
// The change takes its time from now once the store holds the row (on
// SQLite, once the transaction has the write lock, which a usage fold may
// hold for seconds), so that it commits within moments of it: instances
// poll for changes by that time, with an overlap of a few seconds.
func update(ctx context.Context, s store.Store, actor access.Actor, orgID string, now func() time.Time, op string, change func(*store.Org) string) (store.Org, error) {
	if err := allowed(actor); err != nil {
		return store.Org{}, err
	}
	var (
		out store.Org
		at  time.Time
	)
	err := s.InTx(ctx, func(tx store.Store) error {
		var detail string
		o, err := tx.UpdateOrg(ctx, orgID, func(o store.Org) (store.Org, error) {
			at = now().UTC().Truncate(time.Microsecond)
			o.Scopes = slices.Clone(o.Scopes)
			if detail = change(&o); detail != "" {
				o.UpdatedAt = at
			}
			return o, nil
		})
		if err != nil {
			return err
		}
		out = o
		if detail == "" {
			return nil
		}
		return audit.Write(ctx, tx, actor, audit.OrgUpdated, o.ID, o.ID, detail, at)
	})
	if err != nil {
		return store.Org{}, fmt.Errorf("org: %s: %w", op, err)
	}
	return out, nil
}

// describe says which scopes were granted or withdrawn, or "" for none.
func describe(what string, scopes []string) string {
	if len(scopes) == 0 {
		return ""
	}
	return fmt.Sprintf("scopes %s: %s", what, strings.Join(slices.Sorted(slices.Values(scopes)), " "))
}

func rate(n int) string {
	if n == 0 {
		return "the server's default"
	}
	return fmt.Sprintf("%d/s", n)
}
