package user

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strings"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/audit"
	"sapient.dev/sapient/internal/name"
	"sapient.dev/sapient/internal/store"
)

// ErrBadLogin is the one answer to a failed login, whether the email is
// unknown or the password wrong.
var ErrBadLogin = errors.New("user: email or password is incorrect")

// ValidationError is a bad input the caller can correct.
type ValidationError struct{ Field, Message string }

func (e *ValidationError) Error() string { return "user: " + e.Field + ": " + e.Message }

// Service holds the rules for users.
type Service struct {
	Store store.Store
	Now   func() time.Time
	Rand  io.Reader
	// Password are the argon2id parameters of new password hashes; zero
	// means DefaultPasswordParams.
	Password PasswordParams

	dummy dummyHashes
}

// CreateRequest describes a new user.
type CreateRequest struct {
	Email    string
	Password string
	Role     store.Role
	OrgID    string // required for customers, empty for admins
}

// NormalizeEmail trims and checks an email address.
func NormalizeEmail(email string) (string, error) {
	email = strings.TrimSpace(email)
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || len(email) > 254 {
		return "", &ValidationError{"email", "Enter a valid email address."}
	}
	return email, nil
}

// CheckPassword enforces the password policy.
func CheckPassword(pw string) error {
	if len([]rune(pw)) < MinPasswordLen {
		return &ValidationError{"password", fmt.Sprintf("Password must be at least %d characters.", MinPasswordLen)}
	}
	if len(pw) > MaxPasswordBytes {
		return &ValidationError{"password", "Password is too long."}
	}
	return nil
}

// Create adds a user on behalf of actor. The user and the user.created
// event are written in one transaction.
func (s *Service) Create(ctx context.Context, actor access.Actor, req CreateRequest) (store.User, error) {
	if !actor.IsAdmin() && actor.Kind != access.KindSystem {
		return store.User{}, ErrForbidden
	}
	email, err := NormalizeEmail(req.Email)
	if err != nil {
		return store.User{}, err
	}
	if err := CheckPassword(req.Password); err != nil {
		return store.User{}, err
	}
	switch req.Role {
	case store.RoleAdmin:
		req.OrgID = ""
	case store.RoleCustomer:
		if req.OrgID == "" {
			return store.User{}, &ValidationError{"org", "A customer user belongs to an organisation."}
		}
	default:
		return store.User{}, &ValidationError{"role", "Role must be admin or customer."}
	}
	hash, err := s.Password.Hash(req.Password)
	if err != nil {
		return store.User{}, err
	}
	now := s.Now().UTC().Truncate(time.Microsecond)
	u := store.User{
		ID: newUserID(), Email: email, PasswordHash: hash,
		Role: req.Role, OrgID: req.OrgID, CreatedAt: now, PasswordChangedAt: now,
	}
	err = s.Store.InTx(ctx, func(tx store.Store) error {
		if err := tx.CreateUser(ctx, u); err != nil {
			return err
		}
		return audit.Write(ctx, tx, actor, audit.UserCreated, u.OrgID, u.Email, "role "+string(u.Role), now)
	})
	if errors.Is(err, store.ErrAlreadyExists) {
		return store.User{}, &ValidationError{"email", "A user with this email already exists."}
	} else if err != nil {
		return store.User{}, fmt.Errorf("user: create: %w", err)
	}
	return u, nil
}

// Authenticate checks an email and password typed by a person at the
// address in from (its IP and UserAgent). Every failure is ErrBadLogin and
// costs one argon2id computation and one audit event, so neither the answer
// nor its timing tells whether the email exists. The login.failed event
// names the email as typed, never the password, and belongs to the
// organisation of the user only when there is one.
func (s *Service) Authenticate(ctx context.Context, from access.Actor, email, password string) (store.User, error) {
	email = strings.TrimSpace(email)
	u, err := s.Store.GetUserByEmail(ctx, email)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.User{}, fmt.Errorf("user: authenticate: %w", err)
	}
	known := err == nil
	hash := u.PasswordHash
	// A user who has no password yet (invited) gets the same check
	// against the dummy hash as an unknown email; a disabled one gets the
	// check of their own password, and then the same answer as a wrong one.
	if !known || hash == "" {
		if hash, err = s.dummy.get(s.Password.orDefault()); err != nil {
			return store.User{}, fmt.Errorf("user: authenticate: %w", err)
		}
	}
	ok, verr := VerifyPassword(hash, password)
	if known && verr == nil && ok && !u.Disabled() {
		return u, nil
	}
	actor := access.Actor{Kind: access.KindUser, Label: name.Truncate(email, maxEmailLen), IP: from.IP, UserAgent: from.UserAgent}
	detail := "unknown email"
	if known {
		actor.ID, actor.Role, actor.OrgID = u.ID, u.Role, u.OrgID
		detail = "wrong password"
		switch {
		case u.Disabled() && ok:
			detail = "disabled user"
		case u.PasswordHash == "":
			detail = "no password set yet"
		}
	}
	if err := audit.Write(ctx, s.Store, actor, audit.LoginFailed, actor.OrgID, actor.Label, detail, s.Now()); err != nil {
		return store.User{}, fmt.Errorf("user: authenticate: %w", err)
	}
	return store.User{}, ErrBadLogin
}

// maxEmailLen is the longest email address (RFC 5321 §4.5.3.1.3 path
// limit, less the angle brackets).
const maxEmailLen = 254

// ChangePassword sets a new password after checking the current one. The
// new password is checked against the policy first, so that a refused one
// costs no argon2id computation; a ValidationError on current_password is
// then the only one that says the current password was wrong. The new
// hash and the password.changed event are written in one transaction;
// sessions that began before the change stop working (see Sessions.Lookup).
//
// It computes argon2id twice; callers bound how many run at once and
// throttle the guesses, as for a login (the console does both).
func (s *Service) ChangePassword(ctx context.Context, actor access.Actor, userID, current, next string) error {
	if err := CheckPassword(next); err != nil {
		return err
	}
	u, err := s.Store.GetUser(ctx, userID)
	if err != nil {
		return fmt.Errorf("user: change password: %w", err)
	}
	if ok, _ := VerifyPassword(u.PasswordHash, current); !ok {
		return &ValidationError{"current_password", "Current password is incorrect."}
	}
	hash, err := s.Password.Hash(next)
	if err != nil {
		return err
	}
	now := s.Now().UTC().Truncate(time.Microsecond)
	err = s.Store.InTx(ctx, func(tx store.Store) error {
		u, err := tx.UpdateUser(ctx, userID, func(u store.User) (store.User, error) {
			u.PasswordHash, u.PasswordChangedAt = hash, now
			return u, nil
		})
		if err != nil {
			return err
		}
		return audit.Write(ctx, tx, actor, audit.PasswordChanged, u.OrgID, u.Email, "", now)
	})
	if err != nil {
		return fmt.Errorf("user: change password: %w", err)
	}
	return nil
}

// firstStart is the actor of Bootstrap: Sapient itself, on its first start.
var firstStart = access.Actor{Kind: access.KindSystem, ID: access.System.ID, Label: "first start"}

// Bootstrap creates the first Admin on a database that has none. With an
// empty password it generates one and returns it, so that it can be shown
// once. created is false when an Admin already exists.
func (s *Service) Bootstrap(ctx context.Context, email, password string) (created bool, generated string, err error) {
	n, err := s.Store.CountAdmins(ctx)
	if err != nil {
		return false, "", fmt.Errorf("user: bootstrap: %w", err)
	}
	if n > 0 {
		return false, "", nil
	}
	if email == "" {
		email = "admin@localhost"
	}
	if password == "" {
		password = rand.Text() // 26 base32 characters, 130 bits
		generated = password
	}
	if _, err := s.Create(ctx, firstStart, CreateRequest{Email: email, Password: password, Role: store.RoleAdmin}); err != nil {
		if s.createdElsewhere(ctx, email, err) {
			return false, "", nil
		}
		return false, "", fmt.Errorf("user: bootstrap admin: %w", err)
	}
	return true, generated, nil
}

// createdElsewhere reports whether the Admin Bootstrap failed to create
// exists all the same: instances started at once on an empty database all
// find no Admin, all try to create the same one, and all but the first are
// told the email is taken. For them the first start is done.
func (s *Service) createdElsewhere(ctx context.Context, email string, err error) bool {
	var invalid *ValidationError
	if !errors.As(err, &invalid) || invalid.Field != "email" {
		return false
	}
	u, err := s.Store.GetUserByEmail(ctx, email)
	return err == nil && u.Role == store.RoleAdmin
}
