// Package token issues and verifies Sapient's access tokens: JWTs in the
// profile of RFC 9068, signed by the keys package.
package token

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"sapient.dev/sapient/internal/credential"
)

// Claims are the JWT claims of an access token (RFC 9068 §2.2), plus the
// organisation of the credential.
type Claims struct {
	Issuer    string `json:"iss"`
	Subject   string `json:"sub"`
	Audience  string `json:"aud"`
	ExpiresAt int64  `json:"exp"`
	IssuedAt  int64  `json:"iat"`
	NotBefore int64  `json:"nbf,omitempty"`
	JTI       string `json:"jti"`
	ClientID  string `json:"client_id"`
	Scope     string `json:"scope,omitempty"`
	OrgID     string `json:"org_id"`
}

// Signer signs a JWT payload; keys.Manager is one.
type Signer interface {
	Sign(payload []byte) (string, error)
}

// Issuer makes access tokens.
type Issuer struct {
	Signer   Signer
	Issuer   string
	Audience string
	TTL      time.Duration
	Rand     io.Reader
}

// Issued is a signed access token and its lifetime.
type Issued struct {
	Token     string
	ExpiresAt time.Time
	ExpiresIn int64 // seconds, for the token response's expires_in
}

// Issue returns a signed access token for the credential with the granted
// scope (already checked by the caller), for audience (a registered RFC 8707
// resource), or for the Issuer's own Audience when audience is empty.
func (i *Issuer) Issue(e *credential.Entry, scope, audience string, now time.Time) (Issued, error) {
	if audience == "" {
		audience = i.Audience
	}
	var id [16]byte
	if _, err := io.ReadFull(i.Rand, id[:]); err != nil {
		return Issued{}, fmt.Errorf("token: jti: %w", err)
	}
	now = now.Truncate(time.Second) // JWT times are whole seconds
	exp := now.Add(i.TTL)
	if !e.ExpiresAt.IsZero() && e.ExpiresAt.Before(exp) {
		exp = e.ExpiresAt // never outlive the credential
	}
	c := Claims{
		Issuer: i.Issuer, Subject: e.ClientID, Audience: audience,
		ExpiresAt: exp.Unix(), IssuedAt: now.Unix(), JTI: base64.RawURLEncoding.EncodeToString(id[:]),
		ClientID: e.ClientID, Scope: scope, OrgID: e.OrgID,
	}
	payload, err := json.Marshal(&c)
	if err != nil {
		return Issued{}, fmt.Errorf("token: claims: %w", err)
	}
	tok, err := i.Signer.Sign(payload)
	if err != nil {
		return Issued{}, fmt.Errorf("token: %w", err)
	}
	return Issued{Token: tok, ExpiresAt: exp, ExpiresIn: int64(exp.Sub(now) / time.Second)}, nil
}
