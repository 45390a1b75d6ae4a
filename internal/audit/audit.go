// Package audit writes the audit trail: who did what, to what, from where.
// Events are written through the same transaction as the change they
// record, so an event exists exactly when its change committed. They never
// hold a secret.
package audit

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/name"
	"sapient.dev/sapient/internal/store"
)

// Actions recorded.
const (
	LoginSucceeded      = "login.succeeded"
	LoginFailed         = "login.failed"
	Logout              = "logout"
	PasswordChanged     = "password.changed"
	CredentialCreated   = "credential.created"
	CredentialRevoked   = "credential.revoked"
	CredentialUpdated   = "credential.updated"
	CredentialRolled    = "credential.secret_rolled"
	CredentialRateLimit = "credential.rate_limited"
	CredentialLeaked    = "credential.leaked" // a reported leak stopped its secret (POST /leaks, /leaks/github)
	UserCreated         = "user.created"
	UserInvited         = "user.invited"
	UserUpdated         = "user.updated"
	UserDisabled        = "user.disabled"
	UserEnabled         = "user.enabled"
	UserDeleted         = "user.deleted"
	UserSessionsEnded   = "user.sessions_ended"
	ResetLinkCreated    = "password.reset_link_created"
	PasswordSet         = "password.set_by_link"
	LinkRefused         = "link.refused"
	OrgCreated          = "organisation.created"
	OrgUpdated          = "organisation.updated"
	ScopeCreated        = "scope.created"
	KeyRotated          = "signing_key.rotated"
	KeyRetired          = "signing_key.retired"
	ResourceRegistered  = "resource.registered"
	IntrospectRefused   = "introspection.refused"
	SessionEnded        = "session.ended"
	SessionsEnded       = "sessions.ended"
	TwoFactorEnabled    = "two_factor.enabled"
	TwoFactorDisabled   = "two_factor.disabled"
	RecoveryCodeUsed    = "two_factor.recovery_code_used"
	RecoveryCodesNew    = "two_factor.recovery_codes_generated"
	PasskeyAdded        = "passkey.added"
	PasskeyRemoved      = "passkey.removed"
	TwoFactorPolicySet  = "two_factor.policy_set"
	SSOProviderAdded    = "sso.provider_added"
	SSOProviderRemoved  = "sso.provider_removed"
)

// Event builds an event of actor on target in orgID at now.
func Event(actor access.Actor, action, orgID, target, detail string, now time.Time) store.AuditEvent {
	return store.AuditEvent{
		ID: "evt_" + rand.Text(), At: now.UTC().Truncate(time.Microsecond), OrgID: orgID,
		ActorKind: string(actor.Kind), ActorID: actor.ID, ActorLabel: actor.Label,
		Action: action, Target: target, IP: actor.IP, UserAgent: name.Truncate(actor.UserAgent, 256), Detail: name.Truncate(detail, 512),
	}
}

// Write appends an event through s, which should be the transaction of the
// change it records.
func Write(ctx context.Context, s store.Audit, actor access.Actor, action, orgID, target, detail string, now time.Time) error {
	if err := s.AppendAudit(ctx, Event(actor, action, orgID, target, detail, now)); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}
