package user

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/audit"
	"sapient.dev/sapient/internal/name"
	"sapient.dev/sapient/internal/store"
)

// Session lifetimes. A session ends after SessionIdle without a request, and
// SessionMax after login whatever happens (OWASP Session Management Cheat
// Sheet: idle and absolute timeouts).
const (
	SessionIdle = 30 * time.Minute
	SessionMax  = 12 * time.Hour
)

// touchEvery limits how often a session's LastSeenAt is written: a page
// view within this interval of the last write does not touch the database.
const touchEvery = time.Minute

// ErrNoSession is returned for a session token that is unknown, expired,
// idle too long, or older than its user's last password change.
var ErrNoSession = errors.New("user: no valid session")

// Sessions starts, checks and ends console sessions. The token handed to
// the browser is 256 random bits; the store keeps only its SHA-256 digest,
// so a copy of the database yields no usable session.
type Sessions struct {
	Store store.Store
	Now   func() time.Time
	Rand  io.Reader // nil means crypto/rand
}

// SessionID returns the digest under which the session of token is stored.
func SessionID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Start begins a new session for u and returns its token.
func (s *Sessions) Start(ctx context.Context, u store.User) (token string, se store.Session, err error) {
	return s.start(ctx, s.Store, u, access.Actor{}, "")
}

// Login begins a session for u, who has just proved their password, and
// writes the login.succeeded event of actor (u, with the request's IP and
// user agent) in the same transaction.
func (s *Sessions) Login(ctx context.Context, actor access.Actor, u store.User) (token string, se store.Session, err error) {
	return s.LoginWith(ctx, actor, u, "")
}

// LoginWith is Login whose event says how the person proved who they are
// (detail, for example "with an authenticator code"), never with what.
func (s *Sessions) LoginWith(ctx context.Context, actor access.Actor, u store.User, detail string) (token string, se store.Session, err error) {
	err = s.Store.InTx(ctx, func(tx store.Store) error {
		if token, se, err = s.start(ctx, tx, u, actor, ""); err != nil {
			return err
		}
		if _, err := tx.UpdateUser(ctx, u.ID, func(u store.User) (store.User, error) {
			u.LastLoginAt = se.CreatedAt
			return u, nil
		}); err != nil {
			return err
		}
		return audit.Write(ctx, tx, actor, audit.LoginSucceeded, u.OrgID, u.Email, detail, se.CreatedAt)
	})
	if err != nil {
		return "", store.Session{}, fmt.Errorf("user: login: %w", err)
	}
	return token, se, nil
}

// StartAs begins a session for u acting as actor (after a password
// change, for example), remembering the browser and address of actor.
func (s *Sessions) StartAs(ctx context.Context, actor access.Actor, u store.User) (token string, se store.Session, err error) {
	return s.start(ctx, s.Store, u, actor, "")
}

// PendingMax is how long half a login lasts: the time to type a code, use
// a passkey or enrol a second factor.
const PendingMax = 15 * time.Minute

// BeginPending begins half a login for u, who has proved their password
// but not yet a second factor (kind store.PendingSecondFactor), or must
// enrol one first (store.PendingEnrol). Lookup refuses the session; only
// LookupPending of the same kind accepts it.
func (s *Sessions) BeginPending(ctx context.Context, actor access.Actor, u store.User, kind string) (token string, err error) {
	token, _, err = s.start(ctx, s.Store, u, actor, kind)
	return token, err
}

func (s *Sessions) start(ctx context.Context, st store.Sessions, u store.User, from access.Actor, pending string) (token string, se store.Session, err error) {
	r := s.Rand
	if r == nil {
		r = rand.Reader
	}
	var b [32]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", store.Session{}, fmt.Errorf("user: session token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(b[:])
	now := s.Now().UTC().Truncate(time.Microsecond)
	se = store.Session{ID: SessionID(token), UserID: u.ID, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(SessionMax),
		UserAgent: name.Truncate(from.UserAgent, maxUserAgentLen), IP: from.IP, Pending: pending}
	if pending != "" {
		se.ExpiresAt = now.Add(PendingMax)
	}
	if err := st.CreateSession(ctx, se); err != nil {
		return "", store.Session{}, fmt.Errorf("user: start session: %w", err)
	}
	return token, se, nil
}

// Lookup returns the user of a valid session and records the activity.
// A session that has expired, idled out, or began before the user's last
// password change is deleted and reported as ErrNoSession.
func (s *Sessions) Lookup(ctx context.Context, token string) (store.User, store.Session, error) {
	u, se, err := s.lookup(ctx, token)
	if err == nil && se.Pending != "" {
		return store.User{}, store.Session{}, &PendingError{Kind: se.Pending}
	}
	return u, se, err
}

// LookupPending returns the user of a valid half login of kind.
func (s *Sessions) LookupPending(ctx context.Context, token, kind string) (store.User, store.Session, error) {
	u, se, err := s.lookup(ctx, token)
	if err == nil && se.Pending != kind {
		return store.User{}, store.Session{}, ErrNoSession
	}
	return u, se, err
}

// PendingError is the answer of Lookup for half a login: it is
// ErrNoSession to everyone who does not look closer, and Kind tells the
// console where to send the person.
type PendingError struct{ Kind string }

func (e *PendingError) Error() string { return "user: login pending (" + e.Kind + ")" }

// Unwrap makes a PendingError an ErrNoSession.
func (e *PendingError) Unwrap() error { return ErrNoSession }

func (s *Sessions) lookup(ctx context.Context, token string) (store.User, store.Session, error) {
	if token == "" {
		return store.User{}, store.Session{}, ErrNoSession
	}
	se, err := s.Store.GetSession(ctx, SessionID(token))
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, store.Session{}, ErrNoSession
	} else if err != nil {
		return store.User{}, store.Session{}, fmt.Errorf("user: session: %w", err)
	}
	now := s.Now().UTC().Truncate(time.Microsecond)
	u, err := s.Store.GetUser(ctx, se.UserID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.User{}, store.Session{}, fmt.Errorf("user: session: %w", err)
	}
	if err != nil || u.Disabled() || !now.Before(se.ExpiresAt) || now.Sub(se.LastSeenAt) >= SessionIdle || se.CreatedAt.Before(u.PasswordChangedAt) {
		if err := s.Store.DeleteSession(ctx, se.ID); err != nil {
			return store.User{}, store.Session{}, fmt.Errorf("user: end stale session: %w", err)
		}
		return store.User{}, store.Session{}, ErrNoSession
	}
	if now.Sub(se.LastSeenAt) >= touchEvery {
		if err := s.Store.TouchSession(ctx, se.ID, now); err != nil {
			return store.User{}, store.Session{}, fmt.Errorf("user: touch session: %w", err)
		}
		se.LastSeenAt = now
	}
	return u, se, nil
}

// maxUserAgentLen bounds the User-Agent kept with a session.
const maxUserAgentLen = 512

// End deletes the session of token. Ending a session that does not exist
// is not an error.
func (s *Sessions) End(ctx context.Context, token string) error {
	if err := s.Store.DeleteSession(ctx, SessionID(token)); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("user: end session: %w", err)
	}
	return nil
}

// Logout ends the session of token, which belongs to the person of actor,
// and writes the logout event in the same transaction.
func (s *Sessions) Logout(ctx context.Context, actor access.Actor, token string) error {
	err := s.Store.InTx(ctx, func(tx store.Store) error {
		if err := tx.DeleteSession(ctx, SessionID(token)); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return audit.Write(ctx, tx, actor, audit.Logout, actor.OrgID, actor.Label, "", s.Now())
	})
	if err != nil {
		return fmt.Errorf("user: log out: %w", err)
	}
	return nil
}

// EndAll deletes every session of a user, for example after the password
// changed.
func (s *Sessions) EndAll(ctx context.Context, userID string) error {
	if err := s.Store.DeleteUserSessions(ctx, userID, ""); err != nil {
		return fmt.Errorf("user: end sessions: %w", err)
	}
	return nil
}

// CookieName is the name of the console session cookie. Under TLS it has
// the __Host- prefix (RFC 6265bis §4.1.3.2), which browsers accept only
// with Secure, Path=/ and no Domain, so no other host can set it.
func CookieName(secure bool) string {
	if secure {
		return "__Host-sapient_session"
	}
	return "sapient_session"
}

// Caller is a person acting through a request with a console session.
type Caller struct {
	User  store.User
	Token string // the session cookie's value, which ends the session
	// Actor is the person, with the request's client address and user
	// agent for the audit trail.
	Actor access.Actor
}

// FromRequest returns the person behind the session cookie of r, for any
// handler that accepts a console session (the console itself, the REST
// API), acting from the client address ip. It is the one place a session
// becomes an access.Actor. Handlers that change state must also refuse
// cross-origin requests.
func (s *Sessions) FromRequest(r *http.Request, secure bool, ip string) (Caller, error) {
	c, err := r.Cookie(CookieName(secure))
	if err != nil {
		return Caller{}, ErrNoSession
	}
	u, _, err := s.Lookup(r.Context(), c.Value)
	if err != nil {
		return Caller{}, err
	}
	return Caller{User: u, Token: c.Value, Actor: RequestActor(u, r, ip)}, nil
}

// Actor is the access.Actor of a person logged in as u.
func Actor(u store.User) access.Actor {
	return access.Actor{Kind: access.KindUser, ID: u.ID, Label: u.Email, Role: u.Role, OrgID: u.OrgID}
}

// RequestActor is the person logged in as u acting through r from the
// client address ip: the audit trail records the address and user agent.
func RequestActor(u store.User, r *http.Request, ip string) access.Actor {
	a := Actor(u)
	a.IP, a.UserAgent = ip, r.UserAgent()
	return a
}
