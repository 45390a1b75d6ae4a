package user

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/audit"
	"sapient.dev/sapient/internal/scope"
	"sapient.dev/sapient/internal/store"
)

// Errors of the management functions that callers branch on.
var (
	// ErrNotFound is returned for a user who does not exist and, to an
	// actor who may not reach them, for one who does: another
	// organisation's user, or an Admin for an organisation owner, answers
	// exactly like an unknown one.
	ErrNotFound = errors.New("user: no such user")
	// ErrForbidden is returned to an actor who may not manage users at
	// all, or asks for what only an Admin may do (make an Admin, move a
	// user to another organisation).
	ErrForbidden = errors.New("user: not allowed")
	// ErrLastAdmin refuses to disable, demote or delete the last Admin
	// who is not disabled: nobody could operate the platform then.
	ErrLastAdmin = errors.New("user: the last active Admin can be neither disabled, demoted nor deleted")
	// ErrSelf refuses to disable or delete one's own account.
	ErrSelf = errors.New("user: you cannot disable or delete your own account")
)

// authority is what an actor may do to users: everything (an Admin, the
// CLI), or, for an organisation owner or a credential holding the users
// scopes, the Customer users of one organisation.
type authority struct {
	admin bool
	orgID string
}

// reaches reports whether the authority covers u.
func (a authority) reaches(u store.User) bool {
	return a.admin || (u.Role == store.RoleCustomer && u.OrgID != "" && u.OrgID == a.orgID)
}

// authorityOf decides what actor may do to users, reading the acting
// person through st (the transaction of the change), so that an owner
// flag withdrawn a moment ago counts at once. write asks for changes; a
// credential then needs scope.UsersWrite, otherwise scope.UsersRead.
func authorityOf(ctx context.Context, st store.Users, actor access.Actor, write bool) (authority, error) {
	if actor.IsAdmin() {
		return authority{admin: true}, nil
	}
	switch actor.Kind {
	case access.KindUser:
		me, err := st.GetUser(ctx, actor.ID)
		if errors.Is(err, store.ErrNotFound) {
			return authority{}, ErrForbidden
		} else if err != nil {
			return authority{}, err
		}
		if me.Role != store.RoleCustomer || !me.Owner || me.Disabled() || me.OrgID == "" {
			return authority{}, ErrForbidden
		}
		return authority{orgID: me.OrgID}, nil
	case access.KindCredential:
		need := scope.UsersRead
		if write {
			need = scope.UsersWrite
		}
		if actor.OrgID == "" || !slices.Contains(actor.Scopes, need) {
			return authority{}, ErrForbidden
		}
		return authority{orgID: actor.OrgID}, nil
	}
	return authority{}, ErrForbidden
}

// List returns the users actor may see: every user for an Admin, the
// users of their own organisation for an owner or a credential.
func (s *Service) List(ctx context.Context, actor access.Actor) ([]store.User, error) {
	a, err := authorityOf(ctx, s.Store, actor, false)
	if err != nil {
		return nil, err
	}
	all, err := s.Store.ListUsers(ctx)
	if err != nil {
		return nil, fmt.Errorf("user: list: %w", err)
	}
	return slices.DeleteFunc(all, func(u store.User) bool { return !a.reaches(u) }), nil
}

// Get returns one user actor may see; any other is ErrNotFound.
func (s *Service) Get(ctx context.Context, actor access.Actor, id string) (store.User, error) {
	a, err := authorityOf(ctx, s.Store, actor, false)
	if err != nil {
		return store.User{}, err
	}
	return s.reach(ctx, s.Store, a, id)
}

// GetByEmail is Get by email address.
func (s *Service) GetByEmail(ctx context.Context, actor access.Actor, email string) (store.User, error) {
	u, err := s.Store.GetUserByEmail(ctx, strings.TrimSpace(email))
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, ErrNotFound
	} else if err != nil {
		return store.User{}, fmt.Errorf("user: get: %w", err)
	}
	return s.Get(ctx, actor, u.ID)
}

func (s *Service) reach(ctx context.Context, st store.Users, a authority, id string) (store.User, error) {
	u, err := st.GetUser(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !a.reaches(u)) {
		return store.User{}, ErrNotFound
	} else if err != nil {
		return store.User{}, fmt.Errorf("user: get: %w", err)
	}
	return u, nil
}

// UpdateRequest changes a user; nil fields stay as they are.
type UpdateRequest struct {
	Role  *store.Role
	OrgID *string // the organisation of a Customer; ignored for an Admin
	Owner *bool   // only a Customer may own their organisation
}

// Update changes a user's role, organisation or owner flag. Only an Admin
// changes a role or an organisation; an owner may make or unmake owners in
// their own organisation. The last active Admin cannot be demoted.
func (s *Service) Update(ctx context.Context, actor access.Actor, id string, req UpdateRequest) (store.User, error) {
	return s.onUser(ctx, actor, id, "update", func(tx store.Store, a authority, old store.User) (store.User, error) {
		next := old
		if req.Role != nil {
			next.Role = *req.Role
		}
		if req.OrgID != nil {
			next.OrgID = *req.OrgID
		}
		if req.Owner != nil {
			next.Owner = *req.Owner
		}
		if !a.admin && (next.Role != store.RoleCustomer || next.OrgID != a.orgID) {
			return store.User{}, ErrForbidden
		}
		if err := checkRole(ctx, tx, &next); err != nil {
			return store.User{}, err
		}
		if old.Role == store.RoleAdmin && next.Role != store.RoleAdmin && !old.Disabled() {
			if err := lastAdminCheck(ctx, tx, old.ID); err != nil {
				return store.User{}, err
			}
		}
		detail := describeChange(old, next)
		if detail == "" {
			return old, nil
		}
		out, err := tx.UpdateUser(ctx, id, func(u store.User) (store.User, error) {
			u.Role, u.OrgID, u.Owner = next.Role, next.OrgID, next.Owner
			return u, nil
		})
		if err != nil {
			return store.User{}, err
		}
		orgID := next.OrgID
		if orgID == "" {
			orgID = old.OrgID
		}
		return out, audit.Write(ctx, tx, actor, audit.UserUpdated, orgID, out.Email, detail, s.Now())
	})
}

// onUser runs fn in one transaction with actor's authority and the user
// id as actor may reach them (ErrNotFound otherwise); fn returns the user
// as it leaves them. Unexpected errors are wrapped as op.
func (s *Service) onUser(ctx context.Context, actor access.Actor, id, op string, fn func(tx store.Store, a authority, u store.User) (store.User, error)) (store.User, error) {
	var out store.User
	err := s.Store.InTx(ctx, func(tx store.Store) error {
		a, err := authorityOf(ctx, tx, actor, true)
		if err != nil {
			return err
		}
		u, err := s.reach(ctx, tx, a, id)
		if err != nil {
			return err
		}
		out, err = fn(tx, a, u)
		return err
	})
	if err != nil {
		return store.User{}, wrap(op, err)
	}
	return out, nil
}

// describeChange says what changed from old to next, "" for nothing.
func describeChange(old, next store.User) string {
	var parts []string
	if old.Role != next.Role {
		parts = append(parts, fmt.Sprintf("role %s → %s", old.Role, next.Role))
	}
	if old.OrgID != next.OrgID {
		parts = append(parts, fmt.Sprintf("organisation %q → %q", old.OrgID, next.OrgID))
	}
	if old.Owner != next.Owner {
		parts = append(parts, fmt.Sprintf("owner %t → %t", old.Owner, next.Owner))
	}
	return strings.Join(parts, "; ")
}

// lastAdminCheck refuses a change that would leave no active Admin but
// the one with ID id. It reads (and on PostgreSQL locks) the active
// Admins inside the transaction of the change.
func lastAdminCheck(ctx context.Context, tx store.Users, id string) error {
	ids, err := tx.ActiveAdmins(ctx)
	if err != nil {
		return err
	}
	if len(ids) <= 1 && slices.Contains(ids, id) {
		return ErrLastAdmin
	}
	return nil
}

// Disable stops a user: every session of theirs ends in the same
// transaction (sessions are read from the database on every request, so
// on every instance at once) and their logins are refused like a wrong
// password. Their organisation's credentials keep working.
func (s *Service) Disable(ctx context.Context, actor access.Actor, id string) (store.User, error) {
	return s.setDisabled(ctx, actor, id, true)
}

// Enable lets a disabled user log in again.
func (s *Service) Enable(ctx context.Context, actor access.Actor, id string) (store.User, error) {
	return s.setDisabled(ctx, actor, id, false)
}

func (s *Service) setDisabled(ctx context.Context, actor access.Actor, id string, disable bool) (store.User, error) {
	op, action := "enable", audit.UserEnabled
	if disable {
		op, action = "disable", audit.UserDisabled
	}
	return s.onUser(ctx, actor, id, op, func(tx store.Store, _ authority, u store.User) (store.User, error) {
		if disable && actor.Kind == access.KindUser && actor.ID == u.ID {
			return store.User{}, ErrSelf
		}
		if u.Disabled() == disable {
			return u, nil
		}
		if disable && u.Role == store.RoleAdmin {
			if err := lastAdminCheck(ctx, tx, u.ID); err != nil {
				return store.User{}, err
			}
		}
		now := s.Now().UTC().Truncate(time.Microsecond)
		out, err := tx.UpdateUser(ctx, id, func(u store.User) (store.User, error) {
			u.DisabledAt = time.Time{}
			if disable {
				u.DisabledAt = now
			}
			return u, nil
		})
		if err != nil {
			return store.User{}, err
		}
		if disable {
			if err := tx.DeleteUserSessions(ctx, id, ""); err != nil {
				return store.User{}, err
			}
		}
		return out, audit.Write(ctx, tx, actor, action, u.OrgID, u.Email, "", now)
	})
}

// Delete removes a user with their sessions and links. The audit trail
// keeps who did what by email: events name people by their email, not
// only by an ID that no longer leads anywhere. The last active Admin
// cannot be deleted, nor can one's own account.
func (s *Service) Delete(ctx context.Context, actor access.Actor, id string) (store.User, error) {
	return s.onUser(ctx, actor, id, "delete", func(tx store.Store, _ authority, u store.User) (store.User, error) {
		if actor.Kind == access.KindUser && actor.ID == u.ID {
			return store.User{}, ErrSelf
		}
		if u.Role == store.RoleAdmin && !u.Disabled() {
			if err := lastAdminCheck(ctx, tx, u.ID); err != nil {
				return store.User{}, err
			}
		}
		if err := tx.DeleteUser(ctx, id); err != nil {
			return store.User{}, err
		}
		return u, audit.Write(ctx, tx, actor, audit.UserDeleted, u.OrgID, u.Email, "role "+string(u.Role), s.Now())
	})
}

// wrap adds the package prefix to unexpected errors and leaves the ones
// callers branch on as they are.
func wrap(op string, err error) error {
	var verr *ValidationError
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrForbidden) || errors.Is(err, ErrLastAdmin) ||
		errors.Is(err, ErrSelf) || errors.As(err, &verr) {
		return err
	}
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	}
	return fmt.Errorf("user: %s: %w", op, err)
}

// EndSessions ends every session of a user actor may manage, at once (on
// every instance: sessions are read from the database on every request).
func (s *Service) EndSessions(ctx context.Context, actor access.Actor, id string) (store.User, error) {
	return s.onUser(ctx, actor, id, "end sessions", func(tx store.Store, _ authority, u store.User) (store.User, error) {
		if err := tx.DeleteUserSessions(ctx, id, ""); err != nil {
			return store.User{}, err
		}
		return u, audit.Write(ctx, tx, actor, audit.UserSessionsEnded, u.OrgID, u.Email, "", s.Now())
	})
}
