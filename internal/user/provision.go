package user

import (
	"context"
	"errors"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/audit"
	"sapient.dev/sapient/internal/store"
)

// Provision creates the user of a first single sign-on login: an Admin or
// a Customer of orgID, with no password (they log in through their
// provider, or set one with a reset link). Only Sapient itself provisions,
// on behalf of the provider that vouched for the email; actor is the
// system actor naming that provider. An email in use is a
// ValidationError, as in Create.
func (s *Service) Provision(ctx context.Context, actor access.Actor, email string, role store.Role, orgID string) (store.User, error) {
	if actor.Kind != access.KindSystem {
		return store.User{}, ErrForbidden
	}
	email, err := NormalizeEmail(email)
	if err != nil {
		return store.User{}, err
	}
	now := s.Now().UTC().Truncate(time.Microsecond)
	u := store.User{ID: newUserID(), Email: email, Role: role, OrgID: orgID, CreatedAt: now, PasswordChangedAt: now}
	err = s.Store.InTx(ctx, func(tx store.Store) error {
		if err := checkRole(ctx, tx, &u); err != nil {
			return err
		}
		if err := tx.CreateUser(ctx, u); err != nil {
			return err
		}
		return audit.Write(ctx, tx, actor, audit.UserCreated, u.OrgID, u.Email, "role "+string(u.Role)+", by single sign-on", now)
	})
	if errors.Is(err, store.ErrAlreadyExists) {
		return store.User{}, &ValidationError{"email", "A user with this email already exists."}
	} else if err != nil {
		return store.User{}, wrap("provision", err)
	}
	return u, nil
}
