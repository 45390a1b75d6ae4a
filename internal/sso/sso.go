// Package sso lets people log in to the console through an OpenID Connect
// provider their company already runs (OpenID Connect Core 1.0, the
// authorization code flow of §3.1, with PKCE, RFC 7636). An Admin adds a
// provider and says whom it vouches for: the people whose verified email
// is in one of its domains, as Customers of one organisation, and the
// people it names, as Admins. The first login of such a person creates
// their user; a user who exists logs in as they are, and a disabled one
// stays out.
//
// The state of a login in progress (state, nonce and PKCE verifier) rides
// in a cookie sealed under the key-encryption key, so that any instance
// can finish a login another began, and nothing about it is stored.
package sso

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/audit"
	"sapient.dev/sapient/internal/keys"
	"sapient.dev/sapient/internal/name"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/user"
)

// Errors callers branch on.
var (
	// ErrAdminOnly: only an Admin manages providers.
	ErrAdminOnly = errors.New("sso: only an Admin manages single sign-on")
	// ErrNotFound: no such provider.
	ErrNotFound = errors.New("sso: no such provider")
)

// LoginError is a login through a provider that did not succeed. Message
// can be shown to the person; Reason is for the audit trail.
type LoginError struct{ Message, Reason string }

func (e *LoginError) Error() string { return "sso: " + e.Reason }

// ValidationError is a bad field of a new provider.
type ValidationError struct{ Field, Message string }

func (e *ValidationError) Error() string { return "sso: " + e.Field + ": " + e.Message }

// Service holds the rules of single sign-on.
type Service struct {
	Store  store.Store
	Users  *user.Service
	KEK    *keys.KEK
	Now    func() time.Time
	Rand   io.Reader
	Client *http.Client // to reach providers; default a client with a 10 s timeout
	// Issuer is Sapient's own public URL: the redirect URI of every
	// provider is Issuer + "/login/sso/" + ID + "/callback".
	Issuer string

	providers sync.Map // ID → *oidc.Provider, discovered once
}

// CookieName is the cookie that carries a login in progress.
const CookieName = "sapient_sso"

// CookieMaxAge bounds how long a person may take at their provider.
const CookieMaxAge = 10 * time.Minute

// RedirectURL is where the provider of id sends people back.
func (s *Service) RedirectURL(id string) string {
	return strings.TrimSuffix(s.Issuer, "/") + "/login/sso/" + id + "/callback"
}

func (s *Service) client() *http.Client {
	if s.Client != nil {
		return s.Client
	}
	return &http.Client{Timeout: 10 * time.Second}
}

// AddRequest describes a new provider.
type AddRequest struct {
	Name, Issuer, ClientID, ClientSecret string
	OrgID                                string
	Domains, AdminEmails                 []string
}

// Add configures a provider on behalf of actor, an Admin. The provider's
// discovery document is read at once (OpenID Connect Discovery 1.0 §4),
// so that an issuer that is wrong, or not a provider, is refused now
// rather than at the first login.
func (s *Service) Add(ctx context.Context, actor access.Actor, req AddRequest) (store.SSOProvider, error) {
	if !actor.IsAdmin() {
		return store.SSOProvider{}, ErrAdminOnly
	}
	p, err := s.check(req)
	if err != nil {
		return store.SSOProvider{}, err
	}
	if _, err := oidc.NewProvider(oidc.ClientContext(ctx, s.client()), p.Issuer); err != nil {
		return store.SSOProvider{}, &ValidationError{"issuer", "This issuer's OpenID Connect discovery document could not be read, or names another issuer: " + err.Error()}
	}
	id := make([]byte, 10)
	if _, err := io.ReadFull(s.rand(), id); err != nil {
		return store.SSOProvider{}, err
	}
	p.ID = "sso_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(id))
	if p.ClientSecret, err = s.KEK.SealSecret(s.rand(), []byte(req.ClientSecret), "sso\x00"+p.ID); err != nil {
		return store.SSOProvider{}, err
	}
	p.CreatedAt = s.Now().UTC().Truncate(time.Microsecond)
	err = s.Store.InTx(ctx, func(tx store.Store) error {
		if err := tx.CreateSSOProvider(ctx, p); err != nil {
			return err
		}
		detail := "issuer " + p.Issuer
		if len(p.Domains) > 0 {
			detail += ", domains " + strings.Join(p.Domains, " ")
		}
		if len(p.AdminEmails) > 0 {
			detail += ", Admins " + strings.Join(p.AdminEmails, " ")
		}
		return audit.Write(ctx, tx, actor, audit.SSOProviderAdded, p.OrgID, p.Name, detail, p.CreatedAt)
	})
	if errors.Is(err, store.ErrNotFound) {
		return store.SSOProvider{}, &ValidationError{"org", "Choose an existing organisation."}
	} else if err != nil {
		return store.SSOProvider{}, fmt.Errorf("sso: add provider: %w", err)
	}
	return p, nil
}

// check validates and normalises a new provider.
func (s *Service) check(req AddRequest) (store.SSOProvider, error) {
	p := store.SSOProvider{Name: strings.TrimSpace(req.Name), Issuer: strings.TrimSpace(req.Issuer),
		ClientID: strings.TrimSpace(req.ClientID), OrgID: req.OrgID}
	switch {
	case p.Name == "" || len(p.Name) > 100:
		return p, &ValidationError{"name", "Enter a name of 1 to 100 characters, shown on the login page."}
	case !validIssuer(p.Issuer):
		return p, &ValidationError{"issuer", "Enter the provider's issuer URL: https, with a host (http only for this machine)."}
	case p.ClientID == "" || len(p.ClientID) > 255:
		return p, &ValidationError{"client_id", "Enter the client ID the provider gave Sapient."}
	case req.ClientSecret == "" || len(req.ClientSecret) > 1024:
		return p, &ValidationError{"client_secret", "Enter the client secret the provider gave Sapient."}
	}
	for _, d := range req.Domains {
		d = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(d), "@"))
		if d == "" {
			continue
		}
		if !validDomain(d) {
			return p, &ValidationError{"domains", fmt.Sprintf("%q is not a domain name.", d)}
		}
		p.Domains = append(p.Domains, d)
	}
	for _, e := range req.AdminEmails {
		if strings.TrimSpace(e) == "" {
			continue
		}
		e, err := user.NormalizeEmail(e)
		if err != nil {
			return p, &ValidationError{"admin_emails", "Each Admin must be a valid email address."}
		}
		p.AdminEmails = append(p.AdminEmails, strings.ToLower(e))
	}
	if len(p.Domains) > 0 && p.OrgID == "" {
		return p, &ValidationError{"org", "Choose the organisation the people of these domains belong to."}
	}
	if len(p.Domains) == 0 && len(p.AdminEmails) == 0 {
		return p, &ValidationError{"domains", "Name the email domains of an organisation, or Admins by email: otherwise nobody can log in through this provider."}
	}
	if len(p.Domains) == 0 {
		p.OrgID = ""
	}
	return p, nil
}

// List returns the providers, for an Admin.
func (s *Service) List(ctx context.Context, actor access.Actor) ([]store.SSOProvider, error) {
	if !actor.IsAdmin() {
		return nil, ErrAdminOnly
	}
	return s.Store.ListSSOProviders(ctx)
}

// Names returns every provider's ID and name, for the login page.
func (s *Service) Names(ctx context.Context) ([]store.SSOProvider, error) {
	list, err := s.Store.ListSSOProviders(ctx)
	for i := range list {
		list[i] = store.SSOProvider{ID: list[i].ID, Name: list[i].Name}
	}
	return list, err
}

// Remove deletes a provider on behalf of actor, an Admin. People it
// created keep their users.
func (s *Service) Remove(ctx context.Context, actor access.Actor, id string) error {
	if !actor.IsAdmin() {
		return ErrAdminOnly
	}
	err := s.Store.InTx(ctx, func(tx store.Store) error {
		p, err := tx.GetSSOProvider(ctx, id)
		if err != nil {
			return err
		}
		if err := tx.DeleteSSOProvider(ctx, id); err != nil {
			return err
		}
		return audit.Write(ctx, tx, actor, audit.SSOProviderRemoved, p.OrgID, p.Name, "issuer "+p.Issuer, s.Now())
	})
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	}
	s.providers.Delete(id)
	return err
}

// pending is a login in progress, sealed in the browser's cookie.
type pending struct {
	Provider string `json:"p"`
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Next     string `json:"r"`
}

// Begin starts a login through provider id: it returns the provider's
// authorization URL to send the browser to, and the value of the cookie
// to set for the way back. next is where the person goes once logged in.
func (s *Service) Begin(ctx context.Context, id, next string) (authURL, cookie string, err error) {
	p, cfg, _, err := s.config(ctx, id)
	if err != nil {
		return "", "", err
	}
	st := pending{Provider: p.ID, State: s.token(), Nonce: s.token(), Verifier: oauth2.GenerateVerifier(), Next: next}
	b, _ := json.Marshal(st)
	sealed, err := s.KEK.SealSecret(s.rand(), b, "sso-state")
	if err != nil {
		return "", "", err
	}
	return cfg.AuthCodeURL(st.State, oidc.Nonce(st.Nonce), oauth2.S256ChallengeOption(st.Verifier)),
		base64.RawURLEncoding.EncodeToString([]byte(sealed)), nil
}

// Finish completes a login through provider id from the provider's answer
// (its query: state and code, or error) and the cookie Begin set. It
// returns the user, created on their first login, and where to go next.
// Every refusal is a LoginError.
func (s *Service) Finish(ctx context.Context, from access.Actor, id, cookie string, q url.Values) (store.User, string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(cookie)
	if err != nil || cookie == "" {
		return store.User{}, "", &LoginError{"The login took too long or was started in another browser. Try again.", "no login in progress"}
	}
	b, err := s.KEK.OpenSecret(string(raw), "sso-state")
	var st pending
	if err != nil || json.Unmarshal(b, &st) != nil || st.Provider != id {
		return store.User{}, "", &LoginError{"The login took too long or was started in another browser. Try again.", "login state unreadable or of another provider"}
	}
	if e := q.Get("error"); e != "" {
		return store.User{}, "", &LoginError{"Your provider did not log you in (" + name.Truncate(e, 60) + ").", "provider answered " + name.Truncate(e, 60)}
	}
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(st.State)) != 1 {
		return store.User{}, "", &LoginError{"The login could not be checked (state). Try again.", "state mismatch"}
	}
	p, cfg, op, err := s.config(ctx, id)
	if err != nil {
		return store.User{}, "", err
	}
	ctx = oidc.ClientContext(ctx, s.client())
	tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(st.Verifier))
	if err != nil {
		return store.User{}, "", &LoginError{"Your provider did not confirm the login. Try again.", "code exchange failed: " + name.Truncate(err.Error(), 200)}
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		return store.User{}, "", &LoginError{"Your provider sent no ID token.", "no id_token"}
	}
	// OpenID Connect Core §3.1.3.7: signature, issuer and audience; then
	// the nonce. The token's freshness comes from the nonce, which names
	// the login this browser began minutes ago and is used once, not from
	// comparing its exp and nbf with this machine's clock: Sapient never
	// depends on two machines' clocks agreeing.
	idt, err := op.Verifier(&oidc.Config{ClientID: p.ClientID, SkipExpiryCheck: true}).Verify(ctx, rawID)
	if err != nil {
		return store.User{}, "", &LoginError{"Your provider's ID token was not accepted.", "id_token refused: " + name.Truncate(err.Error(), 200)}
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(st.Nonce)) != 1 {
		return store.User{}, "", &LoginError{"The login could not be checked (nonce). Try again.", "nonce mismatch"}
	}
	var claims struct {
		Email    string `json:"email"`
		Verified *bool  `json:"email_verified"`
	}
	if err := idt.Claims(&claims); err != nil || claims.Email == "" {
		return store.User{}, "", &LoginError{"Your provider did not give Sapient your email address.", "no email claim"}
	}
	if claims.Verified == nil || !*claims.Verified {
		return store.User{}, "", &LoginError{"Your provider has not verified your email address.", "email not verified: " + name.Truncate(claims.Email, 100)}
	}
	u, err := s.person(ctx, p, strings.ToLower(claims.Email))
	return u, st.Next, err
}

// person finds or creates the user of email, vouched for by p.
func (s *Service) person(ctx context.Context, p store.SSOProvider, email string) (store.User, error) {
	u, err := s.Store.GetUserByEmail(ctx, email)
	if err == nil {
		if u.Disabled() {
			return store.User{}, &LoginError{"Your account is disabled. Ask an Admin of Sapient.", "user disabled: " + email}
		}
		if !s.vouches(p, u.Email, u.Role, u.OrgID) {
			return store.User{}, &LoginError{"This provider may not log in " + email + ".", "provider does not vouch for " + email}
		}
		return u, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return store.User{}, err
	}
	role, orgID := store.RoleCustomer, p.OrgID
	switch {
	case slices.Contains(p.AdminEmails, email):
		role, orgID = store.RoleAdmin, ""
	case p.OrgID != "" && slices.Contains(p.Domains, domainOf(email)):
	default:
		return store.User{}, &LoginError{"There is no account for " + email + ", and this provider may not create one.", "no account: " + email}
	}
	actor := access.Actor{Kind: access.KindSystem, ID: p.ID, Label: "single sign-on: " + p.Name}
	return s.Users.Provision(ctx, actor, email, role, orgID)
}

// vouches reports whether p may log in an existing user: an Admin it names,
// or a Customer of its organisation in one of its domains.
func (s *Service) vouches(p store.SSOProvider, email string, role store.Role, orgID string) bool {
	email = strings.ToLower(email)
	if role == store.RoleAdmin {
		return slices.Contains(p.AdminEmails, email)
	}
	return orgID != "" && orgID == p.OrgID && slices.Contains(p.Domains, domainOf(email))
}

// config returns the provider of id, its OAuth 2.0 configuration and its
// discovered OpenID Connect endpoints.
func (s *Service) config(ctx context.Context, id string) (store.SSOProvider, *oauth2.Config, *oidc.Provider, error) {
	p, err := s.Store.GetSSOProvider(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return p, nil, nil, ErrNotFound
	} else if err != nil {
		return p, nil, nil, err
	}
	var op *oidc.Provider
	if v, ok := s.providers.Load(id); ok {
		op = v.(*oidc.Provider)
	} else {
		if op, err = oidc.NewProvider(oidc.ClientContext(ctx, s.client()), p.Issuer); err != nil {
			return p, nil, nil, &LoginError{"Sapient could not reach this provider. Try again later.", "discovery failed: " + name.Truncate(err.Error(), 200)}
		}
		s.providers.Store(id, op)
	}
	secret, err := s.KEK.OpenSecret(p.ClientSecret, "sso\x00"+p.ID)
	if err != nil {
		return p, nil, nil, fmt.Errorf("sso: open client secret: %w", err)
	}
	return p, &oauth2.Config{ClientID: p.ClientID, ClientSecret: string(secret), Endpoint: op.Endpoint(),
		RedirectURL: s.RedirectURL(p.ID), Scopes: []string{oidc.ScopeOpenID, "email"}}, op, nil
}

func (s *Service) rand() io.Reader {
	if s.Rand != nil {
		return s.Rand
	}
	return rand.Reader
}

// token returns 128 random bits, base64url.
func (s *Service) token() string {
	b := make([]byte, 16)
	io.ReadFull(s.rand(), b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func validIssuer(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || len(s) > 512 {
		return false
	}
	if u.Scheme == "https" {
		return true
	}
	host := u.Hostname()
	ip := net.ParseIP(host)
	return u.Scheme == "http" && (host == "localhost" || (ip != nil && ip.IsLoopback()))
}

func validDomain(d string) bool {
	if len(d) > 253 || !strings.Contains(d, ".") {
		return false
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

func domainOf(email string) string {
	_, d, _ := strings.Cut(email, "@")
	return d
}
