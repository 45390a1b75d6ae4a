package user

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/audit"
	"sapient.dev/sapient/internal/store"
)

// Lifetimes of one-time links.
const (
	InviteValid = 72 * time.Hour
	ResetValid  = time.Hour
)

// LinkPath is the console page a one-time link opens; the token travels
// in the query string, which request logs leave out.
const LinkPath = "/link"

// maxTokenLen bounds a token read from a request: a real one has 43
// characters.
const maxTokenLen = 64

// Errors of one-time links, each with a message the page can show.
var (
	ErrLinkInvalid   = errors.New("user: this link is not valid; check that you copied all of it, or ask for a new one")
	ErrLinkUsed      = errors.New("user: this link has already been used; ask for a new one")
	ErrLinkExpired   = errors.New("user: this link has expired; ask for a new one")
	ErrLinkOtherUser = errors.New("user: this link is for another account; log out first, then open it again")
)

// LinkURL is the address of the one-time link of token under issuer.
func LinkURL(issuer, token string) string {
	return strings.TrimRight(issuer, "/") + LinkPath + "?token=" + url.QueryEscape(token)
}

// InviteRequest describes a person invited to Sapient.
type InviteRequest struct {
	Email string
	Role  store.Role
	OrgID string // required for customers, empty for admins
	Owner bool   // a Customer who owns their organisation
}

// Invite creates a user without a password and returns the token of their
// invitation link (single use, valid InviteValid), to be shown once and
// mailed. An organisation owner invites Customer users of their own
// organisation only.
func (s *Service) Invite(ctx context.Context, actor access.Actor, req InviteRequest) (store.User, string, error) {
	email, err := NormalizeEmail(req.Email)
	if err != nil {
		return store.User{}, "", err
	}
	token, _, err := s.newToken()
	if err != nil {
		return store.User{}, "", err
	}
	now := s.Now().UTC().Truncate(time.Microsecond)
	u := store.User{ID: newUserID(), Email: email, Role: req.Role, OrgID: req.OrgID, Owner: req.Owner, CreatedAt: now, PasswordChangedAt: now}
	err = s.Store.InTx(ctx, func(tx store.Store) error {
		a, err := authorityOf(ctx, tx, actor, true)
		if err != nil {
			return err
		}
		if !a.admin && (u.Role != store.RoleCustomer || u.OrgID != a.orgID) {
			return ErrForbidden
		}
		if err := checkRole(ctx, tx, &u); err != nil {
			return err
		}
		if err := tx.CreateUser(ctx, u); err != nil {
			return err
		}
		if err := tx.CreateUserLink(ctx, store.UserLink{ID: SessionID(token), UserID: u.ID, Purpose: store.LinkInvite, CreatedAt: now, ExpiresAt: now.Add(InviteValid)}); err != nil {
			return err
		}
		detail := "role " + string(u.Role)
		if u.Owner {
			detail += ", owner"
		}
		return audit.Write(ctx, tx, actor, audit.UserInvited, u.OrgID, u.Email, detail, now)
	})
	if errors.Is(err, store.ErrAlreadyExists) {
		return store.User{}, "", &ValidationError{"email", "A user with this email already exists."}
	} else if err != nil {
		return store.User{}, "", wrap("invite", err)
	}
	return u, token, nil
}

// checkRole settles the organisation and owner flag of u for its role.
func checkRole(ctx context.Context, tx store.Orgs, u *store.User) error {
	switch u.Role {
	case store.RoleAdmin:
		u.OrgID, u.Owner = "", false
	case store.RoleCustomer:
		if u.OrgID == "" {
			return &ValidationError{"org", "A customer user belongs to an organisation."}
		}
		if _, err := tx.GetOrg(ctx, u.OrgID); errors.Is(err, store.ErrNotFound) {
			return &ValidationError{"org", "Choose an existing organisation."}
		} else if err != nil {
			return err
		}
	default:
		return &ValidationError{"role", "Role must be admin or customer."}
	}
	return nil
}

// ResetLink makes a password reset link (single use, valid ResetValid) for
// a user actor may manage, and returns its token. Earlier unused reset
// links of the user stop working.
func (s *Service) ResetLink(ctx context.Context, actor access.Actor, id string) (store.User, string, error) {
	token, _, err := s.newToken()
	if err != nil {
		return store.User{}, "", err
	}
	u, err := s.onUser(ctx, actor, id, "reset link", func(tx store.Store, _ authority, u store.User) (store.User, error) {
		return u, s.writeReset(ctx, tx, actor, u, token)
	})
	if err != nil {
		return store.User{}, "", err
	}
	return u, token, nil
}

// RequestReset makes a reset link for the person who says they forgot the
// password of email. It returns ErrNotFound when there is no such user, or
// the user is disabled: the caller answers the same either way and mails
// the link only when there is one.
func (s *Service) RequestReset(ctx context.Context, from access.Actor, email string) (store.User, string, error) {
	email = strings.TrimSpace(email)
	if len(email) > maxEmailLen {
		return store.User{}, "", ErrNotFound
	}
	token, _, err := s.newToken()
	if err != nil {
		return store.User{}, "", err
	}
	u, err := s.Store.GetUserByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.Disabled()) {
		return store.User{}, "", ErrNotFound
	} else if err != nil {
		return store.User{}, "", fmt.Errorf("user: reset: %w", err)
	}
	actor := access.Actor{Kind: access.KindUser, ID: u.ID, Label: u.Email, Role: u.Role, OrgID: u.OrgID, IP: from.IP, UserAgent: from.UserAgent}
	err = s.Store.InTx(ctx, func(tx store.Store) error { return s.writeReset(ctx, tx, actor, u, token) })
	if err != nil {
		return store.User{}, "", fmt.Errorf("user: reset: %w", err)
	}
	return u, token, nil
}

func (s *Service) writeReset(ctx context.Context, tx store.Store, actor access.Actor, u store.User, token string) error {
	now := s.Now().UTC().Truncate(time.Microsecond)
	if err := tx.DeleteUserLinks(ctx, u.ID, store.LinkReset); err != nil {
		return err
	}
	if err := tx.CreateUserLink(ctx, store.UserLink{ID: SessionID(token), UserID: u.ID, Purpose: store.LinkReset, CreatedAt: now, ExpiresAt: now.Add(ResetValid)}); err != nil {
		return err
	}
	return audit.Write(ctx, tx, actor, audit.ResetLinkCreated, u.OrgID, u.Email, "", now)
}

// CheckLink returns the user and link of token, or ErrLinkInvalid,
// ErrLinkUsed or ErrLinkExpired. It changes nothing.
func (s *Service) CheckLink(ctx context.Context, token string) (store.User, store.UserLink, error) {
	return s.checkLink(ctx, s.Store, token)
}

func (s *Service) checkLink(ctx context.Context, st store.Store, token string) (store.User, store.UserLink, error) {
	if token == "" || len(token) > maxTokenLen {
		return store.User{}, store.UserLink{}, ErrLinkInvalid
	}
	l, err := st.GetUserLink(ctx, SessionID(token))
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, store.UserLink{}, ErrLinkInvalid
	} else if err != nil {
		return store.User{}, store.UserLink{}, fmt.Errorf("user: link: %w", err)
	}
	u, err := st.GetUser(ctx, l.UserID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.Disabled()) {
		return store.User{}, store.UserLink{}, ErrLinkInvalid
	} else if err != nil {
		return store.User{}, store.UserLink{}, fmt.Errorf("user: link: %w", err)
	}
	switch {
	case !l.UsedAt.IsZero():
		return u, l, ErrLinkUsed
	case !s.Now().Before(l.ExpiresAt):
		return u, l, ErrLinkExpired
	}
	return u, l, nil
}

// SetPasswordByLink sets the password of the user of a one-time link and
// uses the link up, in one transaction that also ends every session of
// the user. actor is whoever follows the link: a person logged in as
// someone else is refused (ErrLinkOtherUser, with a link.refused event)
// and nothing changes. It computes argon2id once; callers bound how many
// run at once.
func (s *Service) SetPasswordByLink(ctx context.Context, actor access.Actor, token, password string) (store.User, error) {
	if _, _, err := s.CheckLink(ctx, token); err != nil {
		return store.User{}, err
	}
	if err := CheckPassword(password); err != nil {
		return store.User{}, err
	}
	hash, err := s.Password.Hash(password)
	if err != nil {
		return store.User{}, err
	}
	var out store.User
	var refused bool
	err = s.Store.InTx(ctx, func(tx store.Store) error {
		u, l, err := s.checkLink(ctx, tx, token)
		if err != nil {
			return err
		}
		now := s.Now().UTC().Truncate(time.Microsecond)
		if actor.Kind == access.KindUser && actor.ID != "" && actor.ID != u.ID {
			refused = true
			return audit.Write(ctx, tx, actor, audit.LinkRefused, actor.OrgID, u.Email, "a "+l.Purpose+" link of another user, followed while logged in", now)
		}
		if err := tx.UseUserLink(ctx, l.ID, now); errors.Is(err, store.ErrNotFound) {
			return ErrLinkUsed
		} else if err != nil {
			return err
		}
		if out, err = tx.UpdateUser(ctx, u.ID, func(u store.User) (store.User, error) {
			u.PasswordHash, u.PasswordChangedAt = hash, now
			return u, nil
		}); err != nil {
			return err
		}
		if err := tx.DeleteUserSessions(ctx, u.ID, ""); err != nil {
			return err
		}
		by := access.Actor{Kind: access.KindUser, ID: u.ID, Label: u.Email, Role: u.Role, OrgID: u.OrgID, IP: actor.IP, UserAgent: actor.UserAgent}
		return audit.Write(ctx, tx, by, audit.PasswordSet, u.OrgID, u.Email, "through a "+l.Purpose+" link", now)
	})
	if err != nil {
		if errors.Is(err, ErrLinkInvalid) || errors.Is(err, ErrLinkUsed) || errors.Is(err, ErrLinkExpired) {
			return store.User{}, err
		}
		return store.User{}, wrap("set password", err)
	}
	if refused {
		return store.User{}, ErrLinkOtherUser
	}
	return out, nil
}

// newToken returns a link token of 256 random bits and its digest.
func (s *Service) newToken() (token, id string, err error) {
	r := s.Rand
	if r == nil {
		r = rand.Reader
	}
	var b [32]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", "", fmt.Errorf("user: link token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(b[:])
	return token, SessionID(token), nil
}

func newUserID() string { return "usr_" + strings.ToLower(rand.Text()[:16]) }
