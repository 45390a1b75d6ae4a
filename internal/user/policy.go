package user

import (
	"context"
	"errors"
	"fmt"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/audit"
	"sapient.dev/sapient/internal/store"
)

// ErrAdminOnly refuses a change that only an Admin may make.
var ErrAdminOnly = errors.New("user: only an Admin may change this")

// SetPolicy sets whom two-factor authentication is required of: globally
// (orgID "") nobody, Admins or everyone; in one organisation nobody
// beyond the global policy, or everyone. People without a second factor
// who must have one enrol at their next login. Only an Admin may set it;
// the change and the two_factor.policy_set event are written in one
// transaction. An unknown organisation is store.ErrNotFound.
func (t *TwoFactor) SetPolicy(ctx context.Context, actor access.Actor, orgID, require string) error {
	if !actor.IsAdmin() {
		return ErrAdminOnly
	}
	switch require {
	case store.RequireNobody, store.RequireEveryone:
	case store.RequireAdmins:
		if orgID != "" {
			return &ValidationError{"require", "An organisation has no Admins: require two-factor authentication of everyone in it, or of nobody."}
		}
	default:
		return &ValidationError{"require", "Choose whom to require two-factor authentication of: nobody, Admins or everyone."}
	}
	detail := "required of " + require
	if require == store.RequireNobody {
		detail = "required of nobody"
	}
	target := "global"
	err := t.Store.InTx(ctx, func(tx store.Store) error {
		if orgID != "" {
			o, err := tx.GetOrg(ctx, orgID)
			if err != nil {
				return err
			}
			target = o.Name
		}
		if err := tx.SetTwoFactorPolicy(ctx, orgID, require); err != nil {
			return err
		}
		return audit.Write(ctx, tx, actor, audit.TwoFactorPolicySet, orgID, target, detail, t.Now())
	})
	if errors.Is(err, store.ErrNotFound) {
		return store.ErrNotFound
	} else if err != nil {
		return fmt.Errorf("user: set two-factor policy: %w", err)
	}
	return nil
}

// ErrOwnTwoFactor refuses an Admin's reset of their own second factors:
// they turn them off on their own Two-factor page, with a code or their
// password.
var ErrOwnTwoFactor = errors.New("user: turn off your own two-factor authentication on your Two-factor page")

// Reset removes every second factor of u (authenticator app, passkeys,
// recovery codes) for a person who lost them all, on behalf of actor, who
// must be an Admin and not u. Their next login asks only for the password
// (and enrolment, where policy requires it). The removal and the
// two_factor.disabled event are written in one transaction.
func (t *TwoFactor) Reset(ctx context.Context, actor access.Actor, u store.User) error {
	if !actor.IsAdmin() {
		return ErrAdminOnly
	}
	if actor.ID == u.ID {
		return ErrOwnTwoFactor
	}
	err := t.Store.InTx(ctx, func(tx store.Store) error {
		if err := tx.DeleteTOTP(ctx, u.ID); err != nil {
			return err
		}
		keys, err := tx.ListPasskeys(ctx, u.ID)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := tx.DeletePasskey(ctx, u.ID, k.ID); err != nil {
				return err
			}
		}
		if err := tx.SetRecoveryCodes(ctx, u.ID, nil); err != nil {
			return err
		}
		return audit.Write(ctx, tx, actor, audit.TwoFactorDisabled, u.OrgID, u.Email, "every second factor removed by an Admin", t.Now())
	})
	if err != nil {
		return fmt.Errorf("user: reset two-factor: %w", err)
	}
	return nil
}
