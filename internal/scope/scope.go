// Package scope owns scope definitions: Sapient's built-in scopes for its
// own API and the scopes Admins define for theirs.
package scope

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/audit"
	names "sapient.dev/sapient/internal/name" // Create's parameter is called name
	"sapient.dev/sapient/internal/store"
)

// Sapient's own scopes.
const (
	CredentialsRead  = "credentials:read"
	CredentialsWrite = "credentials:write"
	UsageRead        = "usage:read"
	AuditRead        = "audit:read"
	WebhooksRead     = "webhooks:read"
	WebhooksWrite    = "webhooks:write"
	Introspect       = "sapient:introspect"
	Verify           = "sapient:verify"
	UsersRead        = "users:read"
	UsersWrite       = "users:write"
)

// Builtin lists Sapient's own scopes. Introspect and Verify are reserved
// for Admins, who grant them credential by credential.
var Builtin = []store.Scope{
	{Name: CredentialsRead, Description: "List and read API credentials of the organisation", Builtin: true},
	{Name: CredentialsWrite, Description: "Create, change and revoke API credentials of the organisation", Builtin: true},
	{Name: UsageRead, Description: "Read usage of the organisation's credentials", Builtin: true},
	{Name: AuditRead, Description: "Read the organisation's audit trail", Builtin: true},
	{Name: WebhooksRead, Description: "List the organisation's webhook endpoints and their deliveries", Builtin: true},
	{Name: WebhooksWrite, Description: "Create, change and delete webhook endpoints, and resend deliveries", Builtin: true},
	{Name: Introspect, Description: "Introspect access tokens (RFC 7662)", Builtin: true, AdminOnly: true},
	{Name: Verify, Description: "Follow the revocation feed, and report usage, as a local token verifier", Builtin: true, AdminOnly: true},
	{Name: UsersRead, Description: "List and read the console users of the organisation", Builtin: true, AdminOnly: true},
	{Name: UsersWrite, Description: "Invite, change, disable, enable and delete the organisation's Customer users", Builtin: true, AdminOnly: true},
}

// Reserved reports whether name is one of the scopes only an Admin grants,
// credential by credential, whatever the organisation's grant.
func Reserved(name string) bool {
	return name == Introspect || name == Verify || name == UsersRead || name == UsersWrite
}

// DefaultGrant is what a new organisation may grant: the built-in scopes
// that are not reserved for Admins.
func DefaultGrant() []string {
	var out []string
	for _, s := range Builtin {
		if !s.AdminOnly {
			out = append(out, s.Name)
		}
	}
	return out
}

// ErrInvalidName is returned for a scope name outside RFC 6749 §3.3's
// scope-token syntax or Sapient's naming rule.
var ErrInvalidName = errors.New("scope: name must be 1-64 characters of a-z, 0-9 and . _ - : / (for example shipments:read)")

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._:/-]{0,63}$`)

// ValidName reports whether name is an acceptable scope name.
func ValidName(name string) bool { return nameRE.MatchString(name) }

// EnsureBuiltin defines the built-in scopes that are missing.
func EnsureBuiltin(ctx context.Context, s store.Scopes, now time.Time) error {
	have, err := s.ListScopes(ctx)
	if err != nil {
		return fmt.Errorf("scope: %w", err)
	}
	known := map[string]bool{}
	for _, h := range have {
		known[h.Name] = true
	}
	for _, b := range Builtin {
		if known[b.Name] {
			continue
		}
		b.CreatedAt = now
		if err := s.CreateScope(ctx, b); err != nil && !errors.Is(err, store.ErrAlreadyExists) {
			return fmt.Errorf("scope: define %s: %w", b.Name, err)
		}
	}
	return nil
}

// MaxDescriptionLen is the longest scope description, in characters.
const MaxDescriptionLen = 200

// ErrDescriptionTooLong is returned for a description over
// MaxDescriptionLen characters.
var ErrDescriptionTooLong = fmt.Errorf("scope: description may have at most %d characters", MaxDescriptionLen)

// DescriptionError is a description refused for a character package
// name refuses in names (control, invisible and bidirectional control
// characters), which would make one scope's description look like
// another's. Message can be shown.
type DescriptionError struct{ Message string }

func (e *DescriptionError) Error() string { return "scope: " + e.Message }

// ErrForbidden is returned to an actor without Admin authority: only an
// Admin (or the CLI, which acts as one) defines scopes.
var ErrForbidden = errors.New("scope: only an Admin may define scopes")

// Create defines a new scope on behalf of actor. The scope and its
// scope.created event are written in one transaction.
func Create(ctx context.Context, s store.Store, actor access.Actor, name, description string, now time.Time) (store.Scope, error) {
	if !actor.IsAdmin() {
		return store.Scope{}, ErrForbidden
	}
	if !ValidName(name) {
		return store.Scope{}, ErrInvalidName
	}
	if utf8.RuneCountInString(description) > MaxDescriptionLen {
		return store.Scope{}, ErrDescriptionTooLong
	}
	if err := names.CheckText(description); err != nil {
		var nerr *names.Error
		errors.As(err, &nerr)
		return store.Scope{}, &DescriptionError{Message: strings.Replace(nerr.Message, "Text", "Description", 1)}
	}
	now = now.UTC().Truncate(time.Microsecond)
	sc := store.Scope{Name: name, Description: description, CreatedAt: now}
	err := s.InTx(ctx, func(tx store.Store) error {
		if err := tx.CreateScope(ctx, sc); err != nil {
			return err
		}
		detail := ""
		if description != "" {
			detail = fmt.Sprintf("description %q", description)
		}
		return audit.Write(ctx, tx, actor, audit.ScopeCreated, "", name, detail, now)
	})
	if err != nil {
		return store.Scope{}, fmt.Errorf("scope: create %s: %w", name, err)
	}
	return sc, nil
}
