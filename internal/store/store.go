// Package store defines Sapient's persistent state and the one interface
// through which every other package reads and writes it.
//
// There is a single SQL implementation (see sql.go) that runs on the
// embedded SQLite database and on PostgreSQL; only connection set-up
// differs between the two. The conformance suite in package storetest
// runs against every backend.
package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors that callers branch on.
var (
	// ErrNotFound is returned when the requested record does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrAlreadyExists is returned when a unique constraint would be broken,
	// for example a second active credential with the same name in one
	// organisation, or a second user with the same email.
	ErrAlreadyExists = errors.New("store: already exists")
	// ErrNewerDatabase is returned when the database schema is newer than
	// this binary knows how to use.
	ErrNewerDatabase = errors.New("store: database schema is newer than this binary")
)

// Role is the user type: Admin operates the platform, Customer belongs to
// exactly one organisation.
type Role string

// The two user types.
const (
	RoleAdmin    Role = "admin"
	RoleCustomer Role = "customer"
)

// Org is a customer organisation. Scopes is the set of scopes its users may
// grant to its credentials.
type Org struct {
	ID        string
	Name      string
	Scopes    []string
	CreatedAt time.Time
	UpdatedAt time.Time
	// TokenRateLimit and APIRateLimit are per-credential limits in requests
	// per second at the token endpoint and on API calls; 0 means the
	// server's default.
	TokenRateLimit int
	APIRateLimit   int
	// Version is the position in the change log of the organisation's
	// last change: the store assigns it, and of two versions of one
	// organisation the one with the higher Version is the newer, whatever
	// any clock says.
	Version int64
}

// User is a person who logs in to the console.
type User struct {
	ID                string
	Email             string
	PasswordHash      string // argon2id, PHC string format
	Role              Role
	OrgID             string // empty for admins
	CreatedAt         time.Time
	PasswordChangedAt time.Time
	// DisabledAt is when the user was disabled; zero while they may log
	// in. A disabled user has no session and cannot log in.
	DisabledAt time.Time
	// Owner marks a Customer user who owns their organisation: they
	// invite, disable and enable its other Customer users.
	Owner bool
	// LastLoginAt is the user's last successful login; zero if never.
	LastLoginAt time.Time
}

// Disabled reports whether the user may not log in.
func (u User) Disabled() bool { return !u.DisabledAt.IsZero() }

// Invited reports whether the user was invited and has not yet come in:
// no password chosen and no login, single sign-on included.
func (u User) Invited() bool { return u.PasswordHash == "" && u.LastLoginAt.IsZero() }

// Link purposes: what a one-time link lets its holder do.
const (
	LinkInvite = "invite" // set the first password of an invited user
	LinkReset  = "reset"  // set a new password after forgetting it
)

// UserLink is a one-time link sent to a person. ID is the SHA-256 digest
// of the link's token; the token itself is never stored.
type UserLink struct {
	ID        string
	UserID    string
	Purpose   string // LinkInvite or LinkReset
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // zero until used
}

// Scope is a named permission a credential may hold.
type Scope struct {
	Name        string
	Description string
	Builtin     bool // defined by Sapient for its own API
	AdminOnly   bool // only an Admin may grant it (sapient:introspect)
	CreatedAt   time.Time
}

// Credential is an OAuth 2.0 confidential client of the client credentials
// grant. The secret itself is never stored: SecretHash is its SHA-256 digest.
type Credential struct {
	ClientID   string
	OrgID      string
	Name       string
	SecretHash string
	Scopes     []string
	CreatedAt  time.Time
	CreatedBy  string
	LastUsedAt time.Time // zero if never used; see Credentials
	RevokedAt  time.Time // zero while active
	RevokedBy  string
	ExpiresAt  time.Time // zero if it never expires
	UpdatedAt  time.Time // changes whenever a field other than last use changes
	LastUsedIP string

	// PreviousSecretHash is the digest of the secret replaced by the last
	// roll; it keeps working until PreviousSecretExpiresAt.
	PreviousSecretHash      string
	PreviousSecretExpiresAt time.Time
	// AllowedCIDRs limits where the credential may be used from; empty
	// means anywhere.
	AllowedCIDRs []string
	// Version is the position in the change log of the credential's last
	// change: the store assigns it, and of two versions of one credential
	// the one with the higher Version is the newer, whatever any clock
	// says.
	Version int64
}

// Active reports whether the credential may obtain and use tokens at now.
func (c *Credential) Active(now time.Time) bool {
	return c.RevokedAt.IsZero() && (c.ExpiresAt.IsZero() || now.Before(c.ExpiresAt))
}

// Status names the credential's state at now: "active", "expired" or
// "revoked", as the API, the CLI and the console show it.
func (c *Credential) Status(now time.Time) string {
	switch {
	case !c.RevokedAt.IsZero():
		return "revoked"
	case !c.ExpiresAt.IsZero() && !now.Before(c.ExpiresAt):
		return "expired"
	}
	return "active"
}

// RevokedToken records one access token revoked before its expiry
// (RFC 7009). It is kept until ExpiresAt, after which the token is refused
// anyway.
type RevokedToken struct {
	JTI       string
	ClientID  string
	ExpiresAt time.Time
	RevokedAt time.Time
}

// SigningKey is one JWT signing key. PrivateKey is encrypted under the
// key-encryption key; PublicKey is the public JWK in JSON. A key is
// published from CreatedAt and signs from ActivatesAt until a newer key
// activates.
type SigningKey struct {
	ID          string // the JWS "kid"
	Algorithm   string
	PrivateKey  []byte
	PublicKey   []byte
	CreatedAt   time.Time
	ActivatesAt time.Time
	// RetiredAt is when the key was retired (sapient keys retire): from
	// then on it is not published and its tokens are refused. Zero while
	// in service.
	RetiredAt time.Time
	// Version is the position in the change log of the key's creation; of
	// two keys that activate at the same time, the later one signs.
	Version int64
}

// Session is a console login. ID is the SHA-256 digest of the cookie value,
// so a database read never yields a usable session.
type Session struct {
	ID         string
	UserID     string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
	// UserAgent and IP are the browser and address the session began
	// from, for the person's list of sessions.
	UserAgent string
	IP        string
	// Pending is empty for a whole login. A half login is pending:
	// PendingSecondFactor waits for a code or a passkey, PendingEnrol may
	// only enrol the second factor that policy requires. A pending session
	// reaches nothing else.
	Pending string
}

// The kinds of pending session.
const (
	PendingSecondFactor = "second_factor"
	PendingEnrol        = "enrol"
)

// UsageBucket counts one credential's activity in one hour, and carries
// its last use in that hour.
type UsageBucket struct {
	ClientID      string
	OrgID         string
	Hour          time.Time // truncated to the hour, UTC
	TokensIssued  int64
	TokensRefused int64
	APICalls      int64
	APIRefused    int64
	// LastUsedAt and LastUsedIP are the credential's last use (an issued
	// token or an authenticated call) within Hour; LastUsedAt is zero when
	// the bucket holds only refusals.
	LastUsedAt time.Time
	LastUsedIP string
}

// Add adds o's counts to b's and keeps the later last use of the two.
func (b *UsageBucket) Add(o UsageBucket) {
	b.TokensIssued += o.TokensIssued
	b.TokensRefused += o.TokensRefused
	b.APICalls += o.APICalls
	b.APIRefused += o.APIRefused
	if o.LastUsedAt.After(b.LastUsedAt) {
		b.LastUsedAt, b.LastUsedIP = o.LastUsedAt, o.LastUsedIP
	}
}

// RouteUsage counts the calls of one credential to one route of the
// operator's API in one hour with one outcome: "accepted", or the reason
// of a refusal (see edge.Outcomes). ClientID and OrgID are empty for
// refusals of calls whose credential was not identified.
type RouteUsage struct {
	Hour     time.Time // truncated to the hour, UTC
	ClientID string
	OrgID    string
	Route    string
	Outcome  string
	Calls    int64
}

// UsageFilter selects usage buckets. OrgID and ClientID are optional
// filters; From is inclusive and To exclusive.
type UsageFilter struct {
	OrgID    string
	ClientID string
	From, To time.Time
}

// AuditEvent records one security-relevant action. It never holds a secret.
type AuditEvent struct {
	ID         string
	At         time.Time
	OrgID      string // the organisation the target belongs to; empty for platform events
	ActorKind  string
	ActorID    string
	ActorLabel string
	Action     string // for example "credential.created"
	Target     string // what was acted on: a client ID, a user email, a scope name
	IP         string
	UserAgent  string
	Detail     string // short, human-readable, never secret
}

// AuditFilter selects audit events, newest first (by time, then ID).
// Before and BeforeID, when set, page backwards: only events that come
// after the event (Before, BeforeID) in that order; with BeforeID empty,
// only events strictly older than Before.
type AuditFilter struct {
	OrgID    string
	Action   string
	From, To time.Time
	Before   time.Time
	BeforeID string
	Limit    int
}

// CredentialFilter selects credentials in ListCredentials.
type CredentialFilter struct {
	OrgID string // empty means every organisation
}

// Orgs stores organisations.
type Orgs interface {
	CreateOrg(ctx context.Context, o Org) error
	GetOrg(ctx context.Context, id string) (Org, error)
	GetOrgByName(ctx context.Context, name string) (Org, error)
	ListOrgs(ctx context.Context) ([]Org, error)
	// UpdateOrg reads, changes and writes one organisation in a single
	// transaction; the store stamps UpdatedAt and assigns Version.
	UpdateOrg(ctx context.Context, id string, update func(Org) (Org, error)) (Org, error)
}

// Users stores console users.
type Users interface {
	CreateUser(ctx context.Context, u User) error
	GetUser(ctx context.Context, id string) (User, error)
	// GetUserByEmail matches the email case-insensitively.
	GetUserByEmail(ctx context.Context, email string) (User, error)
	ListUsers(ctx context.Context) ([]User, error)
	// UpdateUser changes every field but ID and CreatedAt.
	UpdateUser(ctx context.Context, id string, update func(User) (User, error)) (User, error)
	CountAdmins(ctx context.Context) (int, error)
	// ActiveAdmins returns the IDs of the Admins who are not disabled. In a
	// transaction on PostgreSQL it locks their rows until commit, so that
	// two transactions cannot each disable or demote a different one of
	// the last two.
	ActiveAdmins(ctx context.Context) ([]string, error)
	// DeleteUser deletes a user with their sessions and links; an unknown
	// user is ErrNotFound.
	DeleteUser(ctx context.Context, id string) error
	// CreateUserLink stores a one-time link.
	CreateUserLink(ctx context.Context, l UserLink) error
	// GetUserLink finds a link by the digest of its token.
	GetUserLink(ctx context.Context, id string) (UserLink, error)
	// UseUserLink marks an unused link used at; a link that is unknown or
	// already used is ErrNotFound, so that of two uses one wins.
	UseUserLink(ctx context.Context, id string, at time.Time) error
	// DeleteUserLinks deletes the unused links of a user for purpose.
	DeleteUserLinks(ctx context.Context, userID, purpose string) error
}

// Scopes stores scope definitions.
type Scopes interface {
	CreateScope(ctx context.Context, s Scope) error
	ListScopes(ctx context.Context) ([]Scope, error)
}

// Credentials stores API credentials.
//
// A credential's last use is written with its usage (see Usage.AddUsage),
// not by a write of the credential. GetCredential, ListCredentials and
// UpdateCredential, the reads people see, fill LastUsedAt and LastUsedIP
// with the latest of the last use in the credential's usage buckets and
// the one kept with the credential (from buckets that PruneUsage deleted).
// CredentialsUpdatedSince, the read of the hot path, leaves them as kept
// with the credential.
type Credentials interface {
	// CreateCredential inserts a credential and returns it as stored: the
	// store stamps UpdatedAt and assigns Version.
	CreateCredential(ctx context.Context, c Credential) (Credential, error)
	GetCredential(ctx context.Context, clientID string) (Credential, error)
	ListCredentials(ctx context.Context, f CredentialFilter) ([]Credential, error)
	// UpdateCredential reads, changes and writes one credential in a single
	// transaction; update's error aborts it and is returned unchanged. It
	// never changes the last use. The store stamps UpdatedAt and assigns
	// Version.
	UpdateCredential(ctx context.Context, clientID string, update func(Credential) (Credential, error)) (Credential, error)
	// ScanCredentials calls fn for every credential that is not revoked,
	// in one pass, stopping at fn's first error. Instances read them into
	// memory at start this way; it fills every field but CreatedAt,
	// CreatedBy, LastUsedAt, LastUsedIP, RevokedAt and RevokedBy.
	ScanCredentials(ctx context.Context, fn func(Credential) error) error
}

// Usage stores hourly usage counters.
type Usage interface {
	// AddUsage adds each bucket's counts to what is stored for its
	// credential and hour, and moves the stored last use of that hour
	// forward to the bucket's, never back, whatever order buckets of one
	// hour arrive in. It never changes a credential's UpdatedAt.
	AddUsage(ctx context.Context, buckets []UsageBucket) error
	ListUsage(ctx context.Context, f UsageFilter) ([]UsageBucket, error)
	// AddRouteUsage adds calls to the operator's API by route and outcome.
	AddRouteUsage(ctx context.Context, rows []RouteUsage) error
	// ListRouteUsage returns route usage by hour, credential, route and
	// outcome; OrgID and ClientID of f filter it, From and To bound it.
	ListRouteUsage(ctx context.Context, f UsageFilter) ([]RouteUsage, error)
	// PruneUsage deletes the buckets (and route usage) of hours before before. The last use
	// they hold is not lost: where it is later than the one kept with the
	// credential, it is kept with the credential, in the same transaction
	// and without changing UpdatedAt.
	PruneUsage(ctx context.Context, before time.Time) (int, error)
}

// Audit stores the audit trail.
type Audit interface {
	AppendAudit(ctx context.Context, e AuditEvent) error
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error)
	PruneAudit(ctx context.Context, before time.Time) (int, error)
}

// Tokens stores revoked access tokens.
type Tokens interface {
	// RevokeToken records a revoked token; revoking it again is not an error.
	RevokeToken(ctx context.Context, t RevokedToken) error
	// GetRevokedToken finds a revoked token by its ID.
	GetRevokedToken(ctx context.Context, jti string) (RevokedToken, error)
	// ListRevokedTokens returns the revoked tokens that expire after after.
	ListRevokedTokens(ctx context.Context, after time.Time) ([]RevokedToken, error)
	// PruneRevokedTokens deletes records of tokens that expired before t.
	PruneRevokedTokens(ctx context.Context, before time.Time) (int, error)
}

// SigningKeys stores JWT signing keys.
type SigningKeys interface {
	CreateSigningKey(ctx context.Context, k SigningKey) error
	ListSigningKeys(ctx context.Context) ([]SigningKey, error)
	// RetireSigningKey marks a key retired; retiring it again is not an
	// error, an unknown key is ErrNotFound.
	RetireSigningKey(ctx context.Context, id string, at time.Time) error
	DeleteSigningKey(ctx context.Context, id string) error
}

// Sessions stores console sessions.
type Sessions interface {
	CreateSession(ctx context.Context, s Session) error
	GetSession(ctx context.Context, id string) (Session, error)
	TouchSession(ctx context.Context, id string, lastSeen time.Time) error
	DeleteSession(ctx context.Context, id string) error
	// DeleteUserSessions ends every session of a user except keepID.
	DeleteUserSessions(ctx context.Context, userID, keepID string) error
	// ListUserSessions returns the sessions of a user, newest first.
	ListUserSessions(ctx context.Context, userID string) ([]Session, error)
	// DeleteExpiredSessions removes sessions whose absolute expiry or idle
	// limit has passed: ExpiresAt before now, or LastSeenAt before idleSince.
	DeleteExpiredSessions(ctx context.Context, now, idleSince time.Time) (int, error)
}

// Store is the whole persistent state of Sapient.
type Store interface {
	Orgs
	Users
	Scopes
	Credentials
	Tokens
	SigningKeys
	Sessions
	Usage
	Audit
	Changes
	Resources
	Webhooks
	Queue
	Leaks
	TwoFactor
	SSO
	// InTx runs fn with a Store whose calls form one transaction: all of
	// them commit when fn returns nil, none otherwise. An audit event
	// appended inside exists exactly when the change it records does.
	InTx(ctx context.Context, fn func(Store) error) error
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	Close() error
}

// ChangeKind names what a change log entry is about.
type ChangeKind string

// The kinds of change instances follow; Ref names the credential's client
// ID, the organisation's ID, the revoked token's ID or the signing key's ID.
const (
	ChangeCredential ChangeKind = "credential"
	ChangeOrg        ChangeKind = "org"
	ChangeToken      ChangeKind = "token"
	ChangeKey        ChangeKind = "key"
	ChangeResource   ChangeKind = "resource"
)

// Change is one entry of the change log: something that instances keep in
// memory changed. Seq is its position, assigned by the database in the
// order the changes commit.
type Change struct {
	Seq  int64
	Kind ChangeKind
	Ref  string
}

// Resource is one of the operator's APIs that tokens may be issued for
// (RFC 8707): a token request naming its URI as resource gets it as aud.
type Resource struct {
	URI         string
	Description string
	CreatedAt   time.Time
}

// SSOProvider is an OpenID Connect provider people may log in to the
// console with. ClientSecret is sealed under the key-encryption key.
// People whose email's domain is in Domains belong to OrgID; those whose
// email is in AdminEmails are Admins.
type SSOProvider struct {
	ID           string
	Name         string
	Issuer       string
	ClientID     string
	ClientSecret string
	OrgID        string
	Domains      []string
	AdminEmails  []string
	CreatedAt    time.Time
}

// SSO stores the single sign-on providers.
type SSO interface {
	CreateSSOProvider(ctx context.Context, p SSOProvider) error
	GetSSOProvider(ctx context.Context, id string) (SSOProvider, error)
	ListSSOProviders(ctx context.Context) ([]SSOProvider, error)
	DeleteSSOProvider(ctx context.Context, id string) error
}

// Resources stores the registered resources.
type Resources interface {
	CreateResource(ctx context.Context, r Resource) error
	ListResources(ctx context.Context) ([]Resource, error)
}

// Changes is the ordered log of changes that instances, the CLI and
// followers of the revocation feed read to stay in step. Every write of a
// credential, an organisation, a revoked token or a signing key appends
// to it in its own transaction.
type Changes interface {
	// LastChange returns the position of the newest change, 0 when none.
	LastChange(ctx context.Context) (int64, error)
	// ChangesAfter returns at most limit changes after position after, in
	// order. A reader that has seen a position has seen every one before.
	ChangesAfter(ctx context.Context, after int64, limit int) ([]Change, error)
	// WatchChanges calls wake each time a change may have been committed
	// elsewhere, until ctx ends; where the database cannot tell, it
	// returns nil at once and the caller polls.
	WatchChanges(ctx context.Context, wake func()) error
	// PruneChanges forgets changes recorded before before; the position
	// of the newest is kept.
	PruneChanges(ctx context.Context, before time.Time) (int, error)
}
