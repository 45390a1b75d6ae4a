package user

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/audit"
	"sapient.dev/sapient/internal/store"
)

// Errors of passkeys that callers branch on.
var (
	// ErrPasskeyRefused is the one answer to a passkey that does not
	// prove who it claims to: unknown, another person's, a ceremony that
	// expired or was used, a bad signature.
	ErrPasskeyRefused = errors.New("user: the passkey was not accepted")
	// ErrUnknownPasskey is the answer to removing a passkey that is not
	// one of the person's own.
	ErrUnknownPasskey = errors.New("user: no such passkey")
)

// ceremonyTTL is how long a WebAuthn ceremony may take between its two
// requests (the WebAuthn default timeout is 5 minutes).
const ceremonyTTL = 5 * time.Minute

// MaxPasskeyName bounds the name a person gives a passkey.
const MaxPasskeyName = 64

// NewWebAuthn returns the relying party of passkeys for issuer: its host
// is the relying party ID (WebAuthn §5.1.3: a registrable domain, so an
// IP address cannot be one) and the issuer's origin (scheme, host and
// port, without any path) the only origin. An issuer
// whose host is an IP address has no passkeys: it returns nil.
func NewWebAuthn(issuer string) (*webauthn.WebAuthn, error) {
	u, err := url.Parse(issuer)
	if err != nil {
		return nil, fmt.Errorf("user: webauthn: %w", err)
	}
	if net.ParseIP(u.Hostname()) != nil {
		return nil, nil
	}
	wa, err := webauthn.New(&webauthn.Config{
		RPID: u.Hostname(), RPDisplayName: "Sapient", RPOrigins: []string{u.Scheme + "://" + u.Host},
	})
	if err != nil {
		return nil, fmt.Errorf("user: webauthn: %w", err)
	}
	return wa, nil
}

// waUser is a person as the WebAuthn library sees them. The user handle
// is the user ID: opaque and never shown.
type waUser struct {
	u     store.User
	creds []webauthn.Credential
}

func (w *waUser) WebAuthnID() []byte                         { return []byte(w.u.ID) }
func (w *waUser) WebAuthnName() string                       { return w.u.Email }
func (w *waUser) WebAuthnDisplayName() string                { return w.u.Email }
func (w *waUser) WebAuthnCredentials() []webauthn.Credential { return w.creds }

func (t *TwoFactor) waUser(ctx context.Context, u store.User) (*waUser, error) {
	keys, err := t.Store.ListPasskeys(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	w := &waUser{u: u}
	for _, k := range keys {
		var c webauthn.Credential
		if err := json.Unmarshal(k.Credential, &c); err != nil {
			return nil, fmt.Errorf("user: passkey %s: %w", k.ID, err)
		}
		w.creds = append(w.creds, c)
	}
	return w, nil
}

// Ceremony is the first half of a WebAuthn ceremony: the options for
// navigator.credentials, and the ID of the challenge the second half
// names.
type Ceremony struct {
	Challenge string `json:"challenge"`
	Options   any    `json:"options"`
}

func (t *TwoFactor) saveCeremony(ctx context.Context, userID string, options any, session *webauthn.SessionData) (Ceremony, error) {
	data, err := json.Marshal(session)
	if err != nil {
		return Ceremony{}, err
	}
	id := rand.Text()
	now := t.Now()
	err = t.Store.CreateChallenge(ctx, store.Challenge{ID: id, UserID: userID, Data: data, ExpiresAt: now.Add(ceremonyTTL)}, now)
	if err != nil {
		return Ceremony{}, err
	}
	return Ceremony{Challenge: id, Options: options}, nil
}

// takeCeremony returns the session of challenge id, which must belong to
// userID ("" for a passwordless login), and uses it up.
func (t *TwoFactor) takeCeremony(ctx context.Context, id, userID string) (webauthn.SessionData, error) {
	ch, err := t.Store.TakeChallenge(ctx, id, t.Now())
	if errors.Is(err, store.ErrNotFound) {
		return webauthn.SessionData{}, ErrPasskeyRefused
	} else if err != nil {
		return webauthn.SessionData{}, err
	}
	if ch.UserID != userID {
		return webauthn.SessionData{}, ErrPasskeyRefused
	}
	var s webauthn.SessionData
	if err := json.Unmarshal(ch.Data, &s); err != nil {
		return webauthn.SessionData{}, fmt.Errorf("user: webauthn session: %w", err)
	}
	return s, nil
}

// BeginPasskeyRegistration starts adding a passkey for u: a discoverable
// credential (so that it can log in without an email), never one of
// the person's passkeys again.
func (t *TwoFactor) BeginPasskeyRegistration(ctx context.Context, u store.User) (Ceremony, error) {
	w, err := t.waUser(ctx, u)
	if err != nil {
		return Ceremony{}, fmt.Errorf("user: begin passkey: %w", err)
	}
	var exclude []protocol.CredentialDescriptor
	for _, c := range w.creds {
		exclude = append(exclude, c.Descriptor())
	}
	opts, session, err := t.WebAuthn.BeginRegistration(w,
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired),
		webauthn.WithExclusions(exclude))
	if err != nil {
		return Ceremony{}, fmt.Errorf("user: begin passkey: %w", err)
	}
	c, err := t.saveCeremony(ctx, u.ID, opts, session)
	if err != nil {
		return Ceremony{}, fmt.Errorf("user: begin passkey: %w", err)
	}
	return c, nil
}

// FinishPasskeyRegistration checks the authenticator's answer (response,
// the JSON of the PublicKeyCredential) to the ceremony challenge of u and
// stores the passkey under name. When the person had no recovery codes,
// it makes ten and returns them, shown this once. The passkey, the codes
// and the passkey.added event are written in one transaction.
func (t *TwoFactor) FinishPasskeyRegistration(ctx context.Context, actor access.Actor, u store.User, challenge, name string, response []byte) (store.Passkey, []string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		name = "Passkey"
	}
	if utf8.RuneCountInString(name) > MaxPasskeyName || !utf8.ValidString(name) {
		return store.Passkey{}, nil, &ValidationError{"name", fmt.Sprintf("A passkey name has at most %d characters.", MaxPasskeyName)}
	}
	session, err := t.takeCeremony(ctx, challenge, u.ID)
	if err != nil {
		return store.Passkey{}, nil, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return store.Passkey{}, nil, ErrPasskeyRefused
	}
	w, err := t.waUser(ctx, u)
	if err != nil {
		return store.Passkey{}, nil, fmt.Errorf("user: add passkey: %w", err)
	}
	cred, err := t.WebAuthn.CreateCredential(w, session, parsed)
	if err != nil {
		return store.Passkey{}, nil, ErrPasskeyRefused
	}
	data, err := json.Marshal(cred)
	if err != nil {
		return store.Passkey{}, nil, fmt.Errorf("user: add passkey: %w", err)
	}
	now := t.Now().UTC().Truncate(time.Microsecond)
	p := store.Passkey{ID: base64.RawURLEncoding.EncodeToString(cred.ID), UserID: u.ID, Name: name, Credential: data, CreatedAt: now}
	var codes []string
	err = t.Store.InTx(ctx, func(tx store.Store) error {
		if err := tx.CreatePasskey(ctx, p); errors.Is(err, store.ErrAlreadyExists) {
			return ErrPasskeyRefused
		} else if err != nil {
			return err
		}
		left, err := tx.CountRecoveryCodes(ctx, u.ID)
		if err != nil {
			return err
		}
		if left == 0 {
			var digests []string
			if codes, digests, err = t.newRecoveryCodes(u.ID); err != nil {
				return err
			}
			if err := tx.SetRecoveryCodes(ctx, u.ID, digests); err != nil {
				return err
			}
		}
		return audit.Write(ctx, tx, actor, audit.PasskeyAdded, u.OrgID, u.Email, "passkey "+name, now)
	})
	if errors.Is(err, ErrPasskeyRefused) {
		return store.Passkey{}, nil, err
	} else if err != nil {
		return store.Passkey{}, nil, fmt.Errorf("user: add passkey: %w", err)
	}
	return p, codes, nil
}

// RemovePasskey removes the passkey id of u. A passkey that is not u's is
// ErrUnknownPasskey; the last second factor of a person policy requires
// one of is ErrTwoFactorRequired. Without a second factor left, the
// recovery codes go too.
func (t *TwoFactor) RemovePasskey(ctx context.Context, actor access.Actor, u store.User, id string) error {
	st, err := t.Status(ctx, u)
	if err != nil {
		return err
	}
	var name string
	for _, p := range st.Passkeys {
		if p.ID == id {
			name = p.Name
		}
	}
	if name == "" {
		return ErrUnknownPasskey
	}
	if st.Required && !st.TOTP && len(st.Passkeys) == 1 {
		return ErrTwoFactorRequired
	}
	err = t.Store.InTx(ctx, func(tx store.Store) error {
		if err := tx.DeletePasskey(ctx, u.ID, id); errors.Is(err, store.ErrNotFound) {
			return ErrUnknownPasskey
		} else if err != nil {
			return err
		}
		if !st.TOTP && len(st.Passkeys) == 1 {
			if err := tx.SetRecoveryCodes(ctx, u.ID, nil); err != nil {
				return err
			}
		}
		return audit.Write(ctx, tx, actor, audit.PasskeyRemoved, u.OrgID, u.Email, "passkey "+name, t.Now())
	})
	if errors.Is(err, ErrUnknownPasskey) {
		return err
	} else if err != nil {
		return fmt.Errorf("user: remove passkey: %w", err)
	}
	return nil
}

// BeginPasskeyLogin starts a login with a passkey: for u, who has proved
// their password (a second factor, any of u's passkeys), or with u nil
// for a passwordless login, where the passkey names the person and must
// verify them (PIN or biometrics).
func (t *TwoFactor) BeginPasskeyLogin(ctx context.Context, u *store.User) (Ceremony, error) {
	var (
		opts    *protocol.CredentialAssertion
		session *webauthn.SessionData
		userID  string
		err     error
	)
	if u != nil {
		w, werr := t.waUser(ctx, *u)
		if werr != nil {
			return Ceremony{}, fmt.Errorf("user: begin passkey login: %w", werr)
		}
		if len(w.creds) == 0 {
			return Ceremony{}, ErrPasskeyRefused
		}
		userID = u.ID
		opts, session, err = t.WebAuthn.BeginLogin(w)
	} else {
		opts, session, err = t.WebAuthn.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	}
	if err != nil {
		return Ceremony{}, fmt.Errorf("user: begin passkey login: %w", err)
	}
	c, err := t.saveCeremony(ctx, userID, opts, session)
	if err != nil {
		return Ceremony{}, fmt.Errorf("user: begin passkey login: %w", err)
	}
	return c, nil
}

// FinishPasskeyLogin checks the authenticator's answer (response, the
// JSON of the PublicKeyCredential) to the ceremony challenge, begun for u
// (nil for a passwordless login), records the use and returns the person.
// A passkey of anyone but u, or unknown, is ErrPasskeyRefused, with a
// login.failed event of from.
func (t *TwoFactor) FinishPasskeyLogin(ctx context.Context, from access.Actor, u *store.User, challenge string, response []byte) (store.User, error) {
	userID := ""
	if u != nil {
		userID = u.ID
	}
	var who store.User
	err := func() error {
		session, err := t.takeCeremony(ctx, challenge, userID)
		if err != nil {
			return err
		}
		parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
		if err != nil {
			return ErrPasskeyRefused
		}
		var cred *webauthn.Credential
		if u != nil {
			w, err := t.waUser(ctx, *u)
			if err != nil {
				return err
			}
			if cred, err = t.WebAuthn.ValidateLogin(w, session, parsed); err != nil {
				return ErrPasskeyRefused
			}
			who = *u
		} else {
			var found *waUser
			cred, err = t.WebAuthn.ValidateDiscoverableLogin(func(rawID, userHandle []byte) (webauthn.User, error) {
				p, err := t.Store.GetPasskey(ctx, base64.RawURLEncoding.EncodeToString(rawID))
				if err != nil || p.UserID != string(userHandle) {
					return nil, ErrPasskeyRefused
				}
				owner, err := t.Store.GetUser(ctx, p.UserID)
				if err != nil || owner.Disabled() {
					return nil, ErrPasskeyRefused // a disabled person stays out
				}
				if found, err = t.waUser(ctx, owner); err != nil {
					return nil, err
				}
				return found, nil
			}, session, parsed)
			if err != nil || found == nil {
				return ErrPasskeyRefused
			}
			who = found.u
		}
		data, err := json.Marshal(cred)
		if err != nil {
			return err
		}
		return t.Store.UpdatePasskeyUse(ctx, base64.RawURLEncoding.EncodeToString(cred.ID), data, t.Now().UTC().Truncate(time.Microsecond))
	}()
	if errors.Is(err, ErrPasskeyRefused) {
		actor := from
		orgID, target := "", "passkey"
		if u != nil {
			actor = RequestActorFrom(*u, from)
			orgID, target = u.OrgID, u.Email
		}
		if aerr := audit.Write(ctx, t.Store, actor, audit.LoginFailed, orgID, target, "passkey refused", t.Now()); aerr != nil {
			return store.User{}, fmt.Errorf("user: passkey login: %w", aerr)
		}
		return store.User{}, ErrPasskeyRefused
	} else if err != nil {
		return store.User{}, fmt.Errorf("user: passkey login: %w", err)
	}
	return who, nil
}

// RequestActorFrom is u acting from the address and browser of from.
func RequestActorFrom(u store.User, from access.Actor) access.Actor {
	a := Actor(u)
	a.IP, a.UserAgent = from.IP, from.UserAgent
	return a
}
