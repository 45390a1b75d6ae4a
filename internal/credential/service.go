package credential

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/store"
)

// ErrNotFound is returned for a credential that does not exist or that the
// actor may not reach: the two look the same from outside.
var ErrNotFound = errors.New("credential: not found")

// Service holds the rules for creating, listing and revoking credentials.
// The console, the REST API and the CLI all call it.
type Service struct {
	Store store.Store
	Now   func() time.Time
	Rand  io.Reader
	// Changed, when set, is called after a credential was created or changed
	// so that this instance's cache sees it at once.
	Changed func(store.Credential)
}

// CreateRequest describes a new credential.
type CreateRequest struct {
	OrgID string
	Name  string
	// Scopes to grant; nil means every scope the organisation may grant.
	Scopes    []string
	ExpiresAt time.Time // zero: never
}

// Created is a new credential with its secret, which exists in plain text
// only here.
type Created struct {
	Credential store.Credential
	Secret     string
}

// Create makes a credential in an organisation the actor may reach.
func (s *Service) Create(ctx context.Context, actor access.Actor, req CreateRequest) (Created, error) {
	name, err := NormalizeName(req.Name)
	if err != nil {
		return Created{}, err
	}
	if req.OrgID == "" {
		return Created{}, invalid("org", "Choose the organisation the credentials are for.")
	}
	if !actor.CanReach(req.OrgID) {
		return Created{}, invalid("org", "Unknown organisation.")
	}
	org, err := s.Store.GetOrg(ctx, req.OrgID)
	if errors.Is(err, store.ErrNotFound) {
		return Created{}, invalid("org", "Unknown organisation.")
	} else if err != nil {
		return Created{}, fmt.Errorf("credential: create: %w", err)
	}
	now := s.Now().UTC().Truncate(time.Microsecond)
	if !req.ExpiresAt.IsZero() && !req.ExpiresAt.After(now) {
		return Created{}, invalid("expires_at", "Expiry must be in the future.")
	}
	defined, err := s.Store.ListScopes(ctx)
	if err != nil {
		return Created{}, fmt.Errorf("credential: create: %w", err)
	}
	scopes := req.Scopes
	if scopes == nil {
		scopes = grantable(org, defined)
	}
	scopes = ParseScopes(strings.Join(scopes, " "))
	if err := checkScopes(scopes, defined, org, actor); err != nil {
		return Created{}, err
	}
	clientID, err := NewClientID(s.Rand)
	if err != nil {
		return Created{}, err
	}
	secret, err := NewSecret(s.Rand)
	if err != nil {
		return Created{}, err
	}
	c := store.Credential{
		ClientID: clientID, OrgID: org.ID, Name: name, SecretHash: HashSecret(secret).String(),
		Scopes: scopes, CreatedAt: now, CreatedBy: actor.Label, ExpiresAt: req.ExpiresAt.UTC(), UpdatedAt: now,
	}
	if err := s.Store.CreateCredential(ctx, c); errors.Is(err, store.ErrAlreadyExists) {
		return Created{}, invalid("name", "A credential named %q already exists. Choose another name.", name)
	} else if err != nil {
		return Created{}, fmt.Errorf("credential: create: %w", err)
	}
	s.changed(c)
	return Created{Credential: c, Secret: secret}, nil
}

// Grantable lists the scopes a Customer of org may put on a credential.
func (s *Service) Grantable(ctx context.Context, org store.Org) ([]string, error) {
	defined, err := s.Store.ListScopes(ctx)
	if err != nil {
		return nil, fmt.Errorf("credential: scopes: %w", err)
	}
	return grantable(org, defined), nil
}

func grantable(org store.Org, defined []store.Scope) []string {
	out := []string{}
	for _, d := range defined {
		for _, g := range org.Scopes {
			if d.Name == g && !d.AdminOnly {
				out = append(out, g)
			}
		}
	}
	return out
}

// List returns the credentials the actor may see, newest first. An Admin
// may pass orgID to filter, or "" for every organisation; for anyone else
// orgID is ignored and their own organisation is listed.
func (s *Service) List(ctx context.Context, actor access.Actor, orgID string) ([]store.Credential, error) {
	f := store.CredentialFilter{OrgID: actor.OrgFilter(orgID)}
	if !actor.IsAdmin() && f.OrgID == "" {
		return []store.Credential{}, nil
	}
	list, err := s.Store.ListCredentials(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("credential: list: %w", err)
	}
	return list, nil
}

// Get returns one credential the actor may reach.
func (s *Service) Get(ctx context.Context, actor access.Actor, clientID string) (store.Credential, error) {
	c, err := s.Store.GetCredential(ctx, clientID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !actor.CanReach(c.OrgID)) {
		return store.Credential{}, ErrNotFound
	} else if err != nil {
		return store.Credential{}, fmt.Errorf("credential: get: %w", err)
	}
	return c, nil
}

// Revoke stops a credential: no new tokens, and its existing tokens are
// refused wherever Sapient checks them. Revoking twice is not an error; the
// first revocation is kept.
func (s *Service) Revoke(ctx context.Context, actor access.Actor, clientID string) (store.Credential, error) {
	c, err := s.Store.UpdateCredential(ctx, clientID, func(c store.Credential) (store.Credential, error) {
		if !actor.CanReach(c.OrgID) {
			return c, ErrNotFound
		}
		if c.RevokedAt.IsZero() {
			now := s.Now().UTC().Truncate(time.Microsecond)
			c.RevokedAt, c.RevokedBy, c.UpdatedAt = now, actor.Label, now
		}
		return c, nil
	})
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, ErrNotFound) {
		return store.Credential{}, ErrNotFound
	} else if err != nil {
		return store.Credential{}, fmt.Errorf("credential: revoke: %w", err)
	}
	s.changed(c)
	return c, nil
}

func (s *Service) changed(c store.Credential) {
	if s.Changed != nil {
		s.Changed(c)
	}
}
