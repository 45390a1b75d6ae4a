package token

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/org"
)

// MaxLen bounds the size of a token Sapient will parse.
const MaxLen = 4096

// Leeway is the clock skew tolerated on exp, nbf and iat.
const Leeway = 30 * time.Second

// Algorithms accepted in the "alg" header: asymmetric only, so neither
// "none" nor an HMAC keyed with a public key can ever verify.
var allowedAlgs = []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256}

// Error explains why a token was refused. Reason is for logs and for the
// error_description of RFC 6750 §3; it never contains the token. ClientID
// and OrgID name the credential when the token was genuine but its
// credential may no longer use it (revoked or expired), so that the
// refusal can be counted for it; otherwise they are empty.
type Error struct{ Reason, ClientID, OrgID string }

func (e *Error) Error() string { return "token: " + e.Reason }

// ErrInvalid is matched by every *Error with errors.Is.
var ErrInvalid = errors.New("token: invalid")

// Is makes errors.Is(err, ErrInvalid) true for every *Error.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

func invalid(reason string) error { return &Error{Reason: reason} }

// KeySource finds published verification keys; keys.Manager is one.
type KeySource interface {
	PublicKey(kid string) (jose.JSONWebKey, bool)
	Reload(ctx context.Context) error
}

// Verifier checks access tokens: signature, header, claims, and that
// neither the token nor its credential has been revoked. In the common case
// it reads only memory.
type Verifier struct {
	Keys        KeySource
	Issuer      string
	Audience    string
	Credentials *credential.Cache
	Orgs        *org.Cache
	Denylist    *Denylist
	Now         func() time.Time

	reloadMu   sync.Mutex
	lastReload time.Time
	seen       seenCache
}

// Verified is a token that passed every check.
type Verified struct {
	Claims     Claims
	Credential *credential.Entry
	// Org is the credential's organisation, as the check found it.
	Org *org.State
	// Scope is what the token may do now: the scopes of its claim that the
	// credential still holds and its organisation still allows.
	Scope string
	// At is the time the check was made at, by the Verifier's clock: the
	// time the caller limits and counts the call by.
	At time.Time

	entry credential.Entry // where Credential may be, not allocated apart
}

// Verify checks raw, a token for Sapient's own API, and returns its claims
// and credential.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Verified, error) {
	out := new(Verified)
	if err := v.VerifyInto(ctx, raw, v.Audience, out); err != nil {
		return nil, err
	}
	return out, nil
}

// VerifyInto checks raw as Verify does, for a token whose aud must be
// audience (one of the operator's APIs, an RFC 8707 resource, or
// Sapient's own), writing into out, which the caller keeps where it likes
// (beside what else it allocates for the request). On error out holds
// nothing to rely on.
func (v *Verifier) VerifyInto(ctx context.Context, raw, audience string, out *Verified) error {
	if raw == "" || len(raw) > MaxLen {
		return invalid("malformed token")
	}
	if err := v.checkSignature(ctx, raw, &out.Claims); err != nil {
		return err
	}
	c := &out.Claims
	now := v.Now()
	out.At = now
	switch {
	case c.Issuer != v.Issuer:
		return invalid("wrong issuer")
	case c.Audience != audience:
		return invalid("wrong audience")
	case c.ExpiresAt == 0 || now.After(time.Unix(c.ExpiresAt, 0).Add(Leeway)):
		return invalid("token expired")
	case c.NotBefore != 0 && now.Add(Leeway).Before(time.Unix(c.NotBefore, 0)):
		return invalid("token not yet valid")
	case c.ClientID == "" || c.JTI == "":
		return invalid("missing claims")
	}
	if v.Denylist.Contains(c.JTI) {
		return &Error{Reason: "token revoked", ClientID: c.ClientID, OrgID: c.OrgID}
	}
	e, err := v.Credentials.LookupInto(ctx, c.ClientID, now, &out.entry)
	if errors.Is(err, credential.ErrNotFound) {
		return invalid("unknown credential")
	} else if err != nil {
		return err
	}
	if !e.Active(now) {
		return &Error{Reason: "credential revoked or expired", ClientID: e.ClientID, OrgID: e.OrgID}
	}
	if e.OrgID != c.OrgID {
		return invalid("organisation mismatch")
	}
	o, err := v.Orgs.Lookup(ctx, e.OrgID)
	if errors.Is(err, org.ErrUnknown) {
		return invalid("unknown organisation")
	} else if err != nil {
		return err
	}
	out.Credential, out.Org = e, o
	out.Scope = intersect(c.Scope, o.Effective(e.Scopes, e.Scope))
	return nil
}

// checkSignature establishes that raw was signed by a published key and
// decodes its claims into c. The verified-token cache is consulted first,
// before any parsing: a token it holds (the same bytes, verified before,
// its key still published) is not verified again. A token in Sapient's own
// form takes the fast path; anything else, and every failure, goes through
// go-jose. The cache keeps a token from its second verification on.
func (v *Verifier) checkSignature(ctx context.Context, raw string, c *Claims) error {
	if t := v.seen.get(raw); t != nil {
		if _, ok := v.Keys.PublicKey(t.kid); ok {
			*c = t.claims
			return nil
		}
	}
	payload, kid, ok := v.fastVerify(ctx, raw)
	if !ok {
		var err error
		if payload, kid, err = v.verifyJWS(ctx, raw); err != nil {
			return err
		}
	}
	// Decoded into claims of its own, not into c: what json.Unmarshal is
	// given escapes, and c may be on the caller's stack.
	decoded := new(Claims)
	if err := json.Unmarshal(payload, decoded); err != nil {
		return invalid("malformed claims")
	}
	*c = *decoded
	if v.seen.admit(raw) {
		v.seen.put(raw, &seenToken{claims: *c, kid: kid})
	}
	return nil
}

// verifyJWS parses raw with go-jose, allowing only the asymmetric
// algorithms, checks the header and the key, verifies the signature and
// returns the payload and the key ID, each failure with its own reason.
func (v *Verifier) verifyJWS(ctx context.Context, raw string) ([]byte, string, error) {
	jws, err := jose.ParseSignedCompact(raw, allowedAlgs)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, "", invalid("malformed token")
	}
	// RFC 7515 §7.1 and §2: each part is base64url without padding or line
	// breaks. go-jose's decoder skips line breaks and ignores the unused
	// bits of a final character, so many strings would verify as one
	// token; only the one form go-jose itself serializes is accepted, which
	// is the form Sapient issues.
	if again, err := jws.CompactSerialize(); err != nil || again != raw {
		return nil, "", invalid("malformed token")
	}
	h := jws.Signatures[0].Protected
	// RFC 9068 §4: typ must be "at+jwt" (or "application/at+jwt").
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	if !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt") {
		return nil, "", invalid("not an access token (typ)")
	}
	key, ok := v.key(ctx, h.KeyID)
	if !ok {
		return nil, "", invalid("unknown signing key")
	}
	if key.Algorithm != h.Algorithm {
		return nil, "", invalid("algorithm does not match the key")
	}
	payload, err := jws.Verify(key.Key)
	if err != nil {
		return nil, "", invalid("bad signature")
	}
	return payload, h.KeyID, nil
}

// key finds a verification key, reloading the key set at most every
// 10 seconds when an unknown kid appears (a key made by another instance).
func (v *Verifier) key(ctx context.Context, kid string) (jose.JSONWebKey, bool) {
	if k, ok := v.Keys.PublicKey(kid); ok {
		return k, true
	}
	v.reloadMu.Lock()
	now := v.Now()
	if now.Sub(v.lastReload) < 10*time.Second {
		v.reloadMu.Unlock()
		return jose.JSONWebKey{}, false
	}
	v.lastReload = now
	v.reloadMu.Unlock()
	if err := v.Keys.Reload(ctx); err != nil {
		return jose.JSONWebKey{}, false
	}
	return v.Keys.PublicKey(kid)
}

// intersect keeps the scopes of claim that are also in held, both
// space-separated. When nothing is dropped (the common case) it returns
// claim itself and allocates nothing.
func intersect(claim, held string) string {
	if claim == held {
		return claim
	}
	for s := range strings.FieldsSeq(claim) {
		if !credential.ScopeListHas(held, s) {
			kept := make([]string, 0, 8)
			for s := range strings.FieldsSeq(claim) {
				if credential.ScopeListHas(held, s) {
					kept = append(kept, s)
				}
			}
			return strings.Join(kept, " ")
		}
	}
	return claim
}
