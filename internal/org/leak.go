package org

import (
	"context"
	"errors"
	"fmt"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/audit"
	"sapient.dev/sapient/internal/store"
)

// ErrInvalidLeakAction is returned for a leak action other than
// store.LeakRevoke and store.LeakRoll.
var ErrInvalidLeakAction = errors.New(`org: the leak action must be "revoke" or "roll"`)

// LeakActions are the choices, everywhere, of what a reported leak of a
// secret does to its credential (see credential.Service.ReportLeaked).
var LeakActions = []string{store.LeakRevoke, store.LeakRoll}

// LeakAction returns what a reported leak does to the credentials of an
// organisation the actor may reach.
func LeakAction(ctx context.Context, s store.Store, actor access.Actor, orgID string) (string, error) {
	if !actor.CanReach(orgID) {
		return "", fmt.Errorf("org: leak action: %w", store.ErrNotFound)
	}
	a, err := s.OrgLeakAction(ctx, orgID)
	if err != nil {
		return "", fmt.Errorf("org: leak action: %w", err)
	}
	return a, nil
}

// SetLeakAction chooses what a reported leak does to an organisation's
// credentials: store.LeakRevoke or store.LeakRoll. Only an Admin may
// choose. A change is written with its organisation.updated event in one
// transaction; choosing the action already chosen writes nothing.
func SetLeakAction(ctx context.Context, s store.Store, actor access.Actor, orgID, action string, now func() time.Time) error {
	if action != store.LeakRevoke && action != store.LeakRoll {
		return ErrInvalidLeakAction
	}
	if !actor.IsAdmin() {
		return fmt.Errorf("org: set leak action: %w", store.ErrNotFound)
	}
	err := s.InTx(ctx, func(tx store.Store) error {
		old, err := tx.OrgLeakAction(ctx, orgID)
		if err != nil || old == action {
			return err
		}
		if err := tx.SetOrgLeakAction(ctx, orgID, action); err != nil {
			return err
		}
		detail := "a reported leak revokes the credential"
		if action == store.LeakRoll {
			detail = "a reported leak rolls the credential's secret with no overlap"
		}
		return audit.Write(ctx, tx, actor, audit.OrgUpdated, orgID, orgID, detail, now().UTC().Truncate(time.Microsecond))
	})
	if err != nil {
		return fmt.Errorf("org: set leak action: %w", err)
	}
	return nil
}
