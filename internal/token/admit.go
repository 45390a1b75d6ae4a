package token

import (
	"cmp"
	"net/netip"
	"time"

	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/ratelimit"
	"sapient.dev/sapient/internal/usage"
)

// Refusal is why a call with a verified token may not pass.
type Refusal struct {
	// Reason is usage.AddressNotAllowed, usage.RateLimited or
	// usage.InsufficientScope.
	Reason string
	// Wait is how long until the rate limit allows a call (RateLimited).
	Wait time.Duration
	// Scope is the first required scope the token may not use
	// (InsufficientScope).
	Scope string
}

// Admit decides whether a call with this token may pass now, in the order
// every door checks it: the credential may be used from addr, it is within
// its API rate limit (its organisation's, else defaultRate, per second, in
// lim), and the token may still use every one of scopes. It returns nil
// when the call may pass. The API's own endpoints and the check of the
// operator's API both ask it, so the rule is written once.
func (v *Verified) Admit(addr netip.Addr, now time.Time, lim ratelimit.Allower, defaultRate int, scopes ...string) *Refusal {
	e := v.Credential
	if !e.AllowedFrom(addr) {
		return &Refusal{Reason: usage.AddressNotAllowed}
	}
	if ok, wait := lim.Allow(e.ClientID, cmp.Or(v.Org.APIRateLimit, defaultRate), now); !ok {
		return &Refusal{Reason: usage.RateLimited, Wait: wait}
	}
	for _, s := range scopes {
		if s != "" && !credential.ScopeListHas(v.Scope, s) {
			return &Refusal{Reason: usage.InsufficientScope, Scope: s}
		}
	}
	return nil
}
