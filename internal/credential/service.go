package credential

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/audit"
	"sapient.dev/sapient/internal/store"
)

// ErrNotFound is returned for a credential that does not exist or that the
// actor may not reach: the two look the same from outside.
var ErrNotFound = errors.New("credential: not found")

// Service holds the rules for creating, changing and revoking credentials.
// The console, the REST API and the CLI all call it. Every change is
// written with its audit event in one transaction.
type Service struct {
	Store store.Store
	Now   func() time.Time
	Rand  io.Reader
	// Changed, when set, is called after a credential was created or changed
	// so that this instance's cache sees it at once.
	Changed func(store.Credential)
	// OrgChanged, when set, is called after a change widened an
	// organisation's grant (see extendGrant), so that this instance's
	// organisation cache sees it at once and the credential's first token
	// holds the scopes it was given.
	OrgChanged func(store.Org)
}

// CreateRequest describes a new credential.
type CreateRequest struct {
	OrgID string
	Name  string
	// Scopes to grant; nil means every scope the organisation may grant.
	Scopes       []string
	ExpiresAt    time.Time // zero: never
	AllowedCIDRs []string  // empty: from anywhere
}

// Created is a new credential with its secret, which exists in plain text
// only here.
type Created struct {
	Credential store.Credential
	Secret     string
}

func (s *Service) now() time.Time { return s.Now().UTC().Truncate(time.Microsecond) }

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
	now := s.now()
	if !req.ExpiresAt.IsZero() && !req.ExpiresAt.After(now) {
		return Created{}, invalid("expires_at", "Expiry must be in the future.")
	}
	cidrs, err := NormalizeCIDRs(req.AllowedCIDRs)
	if err != nil {
		return Created{}, err
	}
	defined, err := s.Store.ListScopes(ctx)
	if err != nil {
		return Created{}, fmt.Errorf("credential: create: %w", err)
	}
	scopes := req.Scopes
	if scopes == nil {
		scopes = grantable(org, defined)
		if actor.Kind == access.KindCredential {
			scopes = slices.DeleteFunc(scopes, func(sc string) bool { return !slices.Contains(actor.Scopes, sc) })
		}
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
		AllowedCIDRs: cidrs,
	}
	var grown *store.Org
	err = s.Store.InTx(ctx, func(tx store.Store) error {
		var err error
		if c, err = tx.CreateCredential(ctx, c); err != nil {
			return err
		}
		if grown, err = extendGrant(ctx, tx, org, scopes, defined, now); err != nil {
			return err
		}
		return audit.Write(ctx, tx, actor, audit.CredentialCreated, org.ID, clientID,
			fmt.Sprintf("name %q, scopes %q", name, strings.Join(scopes, " ")), now)
	})
	if errors.Is(err, store.ErrAlreadyExists) {
		return Created{}, invalid("name", "A credential named %q already exists. Choose another name.", name)
	} else if err != nil {
		return Created{}, fmt.Errorf("credential: create: %w", err)
	}
	s.orgChanged(grown)
	s.changed(c)
	return Created{Credential: c, Secret: secret}, nil
}

// extendGrant adds to the organisation's grant the ordinary scopes an
// Admin gave one of its credentials beyond it, so that the grant stays the
// ceiling of every credential's scopes (and withdrawing a scope from the
// organisation withdraws it from all of them). It returns the organisation
// as changed, or nil if its grant already held every scope.
func extendGrant(ctx context.Context, tx store.Store, org store.Org, scopes []string, defined []store.Scope, now time.Time) (*store.Org, error) {
	var missing []string
	for _, sc := range scopes {
		i := slices.IndexFunc(defined, func(d store.Scope) bool { return d.Name == sc })
		if i >= 0 && !defined[i].AdminOnly && !slices.Contains(org.Scopes, sc) {
			missing = append(missing, sc)
		}
	}
	if len(missing) == 0 {
		return nil, nil
	}
	o, err := tx.UpdateOrg(ctx, org.ID, func(o store.Org) (store.Org, error) {
		for _, sc := range missing {
			if !slices.Contains(o.Scopes, sc) {
				o.Scopes = append(o.Scopes, sc)
			}
		}
		o.UpdatedAt = now
		return o, nil
	})
	if err != nil {
		return nil, err
	}
	return &o, nil
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
		if !d.AdminOnly && slices.Contains(org.Scopes, d.Name) {
			out = append(out, d.Name)
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

// UpdateRequest changes a credential; nil fields are left as they are.
type UpdateRequest struct {
	Name         *string
	Scopes       []string // nil: unchanged; empty non-nil: no scopes
	AllowedCIDRs []string // nil: unchanged; empty non-nil: from anywhere
}

// Update renames a credential or changes its scopes or IP allow-list.
// Tokens issued before a scope was removed lose that scope at once.
func (s *Service) Update(ctx context.Context, actor access.Actor, clientID string, req UpdateRequest) (store.Credential, error) {
	var (
		name  string
		cidrs []string
		err   error
	)
	if req.Name != nil {
		if name, err = NormalizeName(*req.Name); err != nil {
			return store.Credential{}, err
		}
	}
	if req.AllowedCIDRs != nil {
		if cidrs, err = NormalizeCIDRs(req.AllowedCIDRs); err != nil {
			return store.Credential{}, err
		}
	}
	defined, err := s.Store.ListScopes(ctx)
	if err != nil {
		return store.Credential{}, fmt.Errorf("credential: update: %w", err)
	}
	var (
		now   time.Time
		out   store.Credential
		grown *store.Org
	)
	err = s.Store.InTx(ctx, func(tx store.Store) error {
		var changes []string
		c, err := tx.UpdateCredential(ctx, clientID, func(c store.Credential) (store.Credential, error) {
			now = s.now() // see Revoke
			if !actor.CanReach(c.OrgID) {
				return c, ErrNotFound
			}
			if !c.RevokedAt.IsZero() {
				return c, invalid("status", "A revoked credential cannot be changed.")
			}
			if req.Name != nil && name != c.Name {
				changes = append(changes, fmt.Sprintf("name %q to %q", c.Name, name))
				c.Name = name
			}
			if req.Scopes != nil {
				org, err := tx.GetOrg(ctx, c.OrgID)
				if err != nil {
					return c, err
				}
				scopes := ParseScopes(strings.Join(req.Scopes, " "))
				if err := checkScopes(scopes, defined, org, actor); err != nil {
					return c, err
				}
				if grown, err = extendGrant(ctx, tx, org, scopes, defined, now); err != nil {
					return c, err
				}
				if !slices.Equal(scopes, c.Scopes) {
					changes = append(changes, fmt.Sprintf("scopes %q to %q", strings.Join(c.Scopes, " "), strings.Join(scopes, " ")))
					c.Scopes = scopes
				}
			}
			if req.AllowedCIDRs != nil && !slices.Equal(cidrs, c.AllowedCIDRs) {
				changes = append(changes, fmt.Sprintf("allowed addresses to %q", strings.Join(cidrs, " ")))
				c.AllowedCIDRs = cidrs
			}
			c.UpdatedAt = now
			return c, nil
		})
		if err != nil {
			return err
		}
		out = c
		if len(changes) == 0 {
			return nil
		}
		return audit.Write(ctx, tx, actor, audit.CredentialUpdated, c.OrgID, c.ClientID, strings.Join(changes, "; "), now)
	})
	if err := s.mapErr("update", err, req.Name != nil); err != nil {
		return store.Credential{}, err
	}
	s.orgChanged(grown)
	s.changed(out)
	return out, nil
}

// RollOverlaps are the choices, everywhere, for how long an old secret
// keeps working after a roll: it stops now, or after 1 hour, 24 hours or
// 7 days.
var RollOverlaps = []time.Duration{0, time.Hour, 24 * time.Hour, 7 * 24 * time.Hour}

// Roll gives a credential a new secret. The previous secret keeps working
// for overlap (zero: it stops at once), so that clients can switch without
// downtime. The new secret exists in plain text only in the result.
func (s *Service) Roll(ctx context.Context, actor access.Actor, clientID string, overlap time.Duration) (Created, error) {
	if !slices.Contains(RollOverlaps, overlap) {
		return Created{}, invalid("previous_secret_expires_in", "The old secret can keep working for 0s (it stops now), 1h, 24h or 168h (7 days).")
	}
	secret, err := NewSecret(s.Rand)
	if err != nil {
		return Created{}, err
	}
	var (
		now time.Time
		out store.Credential
	)
	err = s.Store.InTx(ctx, func(tx store.Store) error {
		c, err := tx.UpdateCredential(ctx, clientID, func(c store.Credential) (store.Credential, error) {
			now = s.now() // see Revoke
			if !actor.CanReach(c.OrgID) {
				return c, ErrNotFound
			}
			if !c.Active(now) {
				return c, invalid("status", "Only an active credential can get a new secret.")
			}
			if actor.Kind == access.KindCredential {
				// The new secret gives its holder the credential's power: a
				// credential may not take on more than it holds itself.
				for _, sc := range c.Scopes {
					if !slices.Contains(actor.Scopes, sc) {
						return c, invalid("scopes", "This credential holds scope %q, which the credential rolling its secret does not.", sc)
					}
				}
			}
			c.PreviousSecretHash, c.PreviousSecretExpiresAt = "", time.Time{}
			if overlap > 0 {
				c.PreviousSecretHash, c.PreviousSecretExpiresAt = c.SecretHash, now.Add(overlap)
			}
			c.SecretHash = HashSecret(secret).String()
			c.UpdatedAt = now
			return c, nil
		})
		if err != nil {
			return err
		}
		out = c
		detail := "previous secret stopped at once"
		if overlap > 0 {
			detail = "previous secret works until " + out.PreviousSecretExpiresAt.Format(time.RFC3339)
		}
		return audit.Write(ctx, tx, actor, audit.CredentialRolled, c.OrgID, c.ClientID, detail, now)
	})
	if err := s.mapErr("roll", err, false); err != nil {
		return Created{}, err
	}
	s.changed(out)
	return Created{Credential: out, Secret: secret}, nil
}

// Revoke stops a credential: no new tokens, and its existing tokens are
// refused wherever Sapient checks them. Revoking twice is not an error; the
// first revocation is kept.
func (s *Service) Revoke(ctx context.Context, actor access.Actor, clientID string) (store.Credential, error) {
	var (
		now time.Time
		out store.Credential
	)
	err := s.Store.InTx(ctx, func(tx store.Store) error {
		first := false
		c, err := tx.UpdateCredential(ctx, clientID, func(c store.Credential) (store.Credential, error) {
			// The change is stamped once the store holds the row (and, on
			// SQLite, the write lock, which a usage fold may hold for
			// seconds), so that it commits within moments of its time:
			// other instances poll changes by that time, with an overlap
			// of a few seconds (see server.Server.syncLoop).
			now = s.now()
			if !actor.CanReach(c.OrgID) {
				return c, ErrNotFound
			}
			if c.RevokedAt.IsZero() {
				first = true
				c.RevokedAt, c.RevokedBy, c.UpdatedAt = now, actor.Label, now
			}
			return c, nil
		})
		if err != nil {
			return err
		}
		out = c
		if !first {
			return nil
		}
		return audit.Write(ctx, tx, actor, audit.CredentialRevoked, c.OrgID, c.ClientID, fmt.Sprintf("name %q", c.Name), now)
	})
	if err := s.mapErr("revoke", err, false); err != nil {
		return store.Credential{}, err
	}
	s.changed(out)
	return out, nil
}

// mapErr turns store errors into the service's.
func (s *Service) mapErr(op string, err error, renamed bool) error {
	var verr *ValidationError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound), errors.Is(err, ErrNotFound):
		return ErrNotFound
	case errors.As(err, &verr):
		return verr
	case renamed && errors.Is(err, store.ErrAlreadyExists):
		return invalid("name", "Another active credential already has this name. Choose another name.")
	}
	return fmt.Errorf("credential: %s: %w", op, err)
}

func (s *Service) orgChanged(o *store.Org) {
	if o != nil && s.OrgChanged != nil {
		s.OrgChanged(*o)
	}
}

func (s *Service) changed(c store.Credential) {
	if s.Changed != nil {
		s.Changed(c)
	}
}
