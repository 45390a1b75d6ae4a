// Package keys owns the JWT signing keys: creating them, keeping their
// private halves encrypted at rest, rotating them, and publishing the JWKS
// (RFC 7517).
//
// Rotation follows the rule that a key is published before it signs and
// stays published until every token it signed has expired: a new key is
// stored with an activation time PublishLead in the future, so verifiers
// that cache the JWKS learn it first; the previous key keeps signing until
// then, and stays in the JWKS for TokenTTL (plus leeway) after that.
package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/audit"
	"sapient.dev/sapient/internal/store"
)

// Algorithms Sapient signs with.
var Algorithms = []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256}

// ParseAlgorithm checks a --signing-alg value.
func ParseAlgorithm(s string) (jose.SignatureAlgorithm, error) {
	for _, a := range Algorithms {
		if string(a) == s {
			return a, nil
		}
	}
	return "", fmt.Errorf("keys: unsupported signing algorithm %q (use ES256, EdDSA or RS256)", s)
}

// Leeway is added to the token lifetime before a retired key leaves the JWKS.
const Leeway = 5 * time.Minute

// Manager keeps the signing keys of this instance in memory.
type Manager struct {
	Store       store.SigningKeys
	KEK         *KEK
	Algorithm   jose.SignatureAlgorithm
	Rotation    time.Duration // a key signs for this long; 0 disables scheduled rotation
	PublishLead time.Duration // a new key is published this long before it signs
	TokenTTL    time.Duration
	Now         func() time.Time
	Rand        io.Reader
	Logger      *slog.Logger
	// Actor is recorded in the audit trail for keys made by Rotate; keys
	// made on schedule are recorded as access.System.
	Actor access.Actor

	mu      sync.Mutex
	loaded  []loadedKey          // sorted by activation
	current atomic.Pointer[ring] // recomputed when it goes stale
}

type loadedKey struct {
	id          string
	alg         jose.SignatureAlgorithm
	private     crypto.Signer
	public      jose.JSONWebKey
	createdAt   time.Time
	activatesAt time.Time
}

// tookOver is when k took over signing from the key before it: when it
// activated or, for a key activated in an emergency (see Rotate), when it
// was made.
func (k loadedKey) tookOver() time.Time {
	if k.createdAt.After(k.activatesAt) {
		return k.createdAt
	}
	return k.activatesAt
}

// ring is the view of the keys at one moment: who signs, who verifies.
type ring struct {
	signer     *jwsSigner
	signerID   string
	verify     map[string]jose.JSONWebKey
	jwks       []byte
	staleAfter time.Time
}

// Init loads the keys, creating the first one on an empty database; that
// key signs at once, as no verifier can have cached anything yet.
func (m *Manager) Init(ctx context.Context) error {
	if err := m.Reload(ctx); err != nil {
		return err
	}
	m.mu.Lock()
	empty := len(m.loaded) == 0
	m.mu.Unlock()
	if empty {
		if _, err := m.create(ctx, m.Now(), access.System); err != nil {
			return err
		}
		return m.Reload(ctx)
	}
	return nil
}

// Reload reads the keys from the store, so that keys made by another
// instance or the CLI are published here too.
func (m *Manager) Reload(ctx context.Context) error {
	stored, err := m.Store.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("keys: load: %w", err)
	}
	m.mu.Lock()
	known := map[string]loadedKey{}
	for _, k := range m.loaded {
		known[k.id] = k
	}
	m.mu.Unlock()
	loaded := make([]loadedKey, 0, len(stored))
	for _, sk := range stored {
		if !sk.RetiredAt.IsZero() {
			continue // neither published nor trusted
		}
		if k, ok := known[sk.ID]; ok {
			loaded = append(loaded, k)
			continue
		}
		k, err := m.decrypt(sk)
		if err != nil {
			return err
		}
		loaded = append(loaded, k)
	}
	m.mu.Lock()
	m.loaded = loaded
	m.current.Store(nil)
	m.mu.Unlock()
	return nil
}

func (m *Manager) decrypt(sk store.SigningKey) (loadedKey, error) {
	der, err := m.KEK.open(sk.PrivateKey, sk.ID)
	if err != nil {
		return loadedKey{}, fmt.Errorf("%w (key %s)", err, sk.ID)
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return loadedKey{}, fmt.Errorf("keys: parse key %s: %w", sk.ID, err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return loadedKey{}, fmt.Errorf("keys: key %s is not a signing key", sk.ID)
	}
	var pub jose.JSONWebKey
	if err := json.Unmarshal(sk.PublicKey, &pub); err != nil {
		return loadedKey{}, fmt.Errorf("keys: parse public key %s: %w", sk.ID, err)
	}
	return loadedKey{
		id: sk.ID, alg: jose.SignatureAlgorithm(sk.Algorithm), private: signer, public: pub,
		createdAt: sk.CreatedAt, activatesAt: sk.ActivatesAt,
	}, nil
}

// Rotate creates a new key that is published now and signs from
// now+PublishLead on. It returns the new key ID and its activation time.
//
// With PublishLead zero or less it is an emergency rotation: the new key
// signs at once on every instance, whatever their clocks say. It takes the
// activation time of the key signing now rather than this machine's now,
// which an instance whose clock is behind has not reached yet: wherever
// that key signs, the new one, later in the change log, signs instead. A
// key scheduled for later still takes over when its time comes.
func (m *Manager) Rotate(ctx context.Context) (string, time.Time, error) {
	now := m.Now()
	actor := m.Actor
	if actor.Kind == "" {
		actor = access.System
	}
	activates := now.Add(m.PublishLead)
	if m.PublishLead <= 0 {
		if err := m.Reload(ctx); err != nil {
			return "", time.Time{}, err
		}
		m.mu.Lock()
		for _, k := range m.loaded {
			if !k.activatesAt.After(now) {
				activates = k.activatesAt
			}
		}
		m.mu.Unlock()
	}
	k, err := m.create(ctx, activates, actor)
	if err != nil {
		return "", time.Time{}, err
	}
	if err := m.Reload(ctx); err != nil {
		return "", time.Time{}, err
	}
	return k.ID, k.ActivatesAt, nil
}

// Tick performs scheduled work: reload, rotate when the signing key is due,
// and forget keys that no unexpired token can name.
func (m *Manager) Tick(ctx context.Context) error {
	if err := m.Reload(ctx); err != nil {
		return err
	}
	now := m.Now()
	m.mu.Lock()
	var newest loadedKey
	if n := len(m.loaded); n > 0 {
		newest = m.loaded[n-1]
	}
	m.mu.Unlock()
	if m.Rotation > 0 && !newest.activatesAt.After(now) && now.Sub(newest.activatesAt) >= m.Rotation-m.PublishLead {
		activates := newest.activatesAt.Add(m.Rotation)
		if min := now.Add(m.PublishLead); activates.Before(min) {
			activates = min
		}
		k, err := m.create(ctx, activates, access.System)
		if err != nil {
			return err
		}
		m.Logger.Info("signing key rotation scheduled", "kid", k.ID, "activates_at", k.ActivatesAt)
	}
	for _, id := range m.expired(now) {
		if err := m.Store.DeleteSigningKey(ctx, id); err != nil {
			return fmt.Errorf("keys: prune: %w", err)
		}
		m.Logger.Info("retired signing key removed", "kid", id)
	}
	return m.Reload(ctx)
}

// expired lists keys retired long enough ago that every token they signed
// has expired.
func (m *Manager) expired(now time.Time) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for i := 0; i+1 < len(m.loaded); i++ {
		retired := m.loaded[i+1].tookOver()
		if !retired.After(now) {
			// key i was superseded at retired; is a later key also active?
			if now.After(retired.Add(m.TokenTTL + Leeway)) {
				out = append(out, m.loaded[i].id)
			}
		}
	}
	return out
}

// generate makes a key pair whose key ID, its RFC 7638 thumbprint in
// base64url, begins with a letter or a digit: one that began with "-"
// would read as a flag where people type it (sapient keys retire KID).
// One key in 32 is drawn again.
func (m *Manager) generate() (crypto.Signer, jose.JSONWebKey, error) {
	for {
		var (
			priv crypto.Signer
			err  error
		)
		switch m.Algorithm {
		case jose.ES256:
			priv, err = ecdsa.GenerateKey(elliptic.P256(), m.Rand)
		case jose.EdDSA:
			_, priv, err = ed25519.GenerateKey(m.Rand)
		case jose.RS256:
			priv, err = rsa.GenerateKey(m.Rand, 2048)
		default:
			return nil, jose.JSONWebKey{}, fmt.Errorf("keys: unsupported algorithm %q", m.Algorithm)
		}
		if err != nil {
			return nil, jose.JSONWebKey{}, fmt.Errorf("keys: generate: %w", err)
		}
		pub := jose.JSONWebKey{Key: priv.Public(), Algorithm: string(m.Algorithm), Use: "sig"}
		thumb, err := pub.Thumbprint(crypto.SHA256)
		if err != nil {
			return nil, jose.JSONWebKey{}, fmt.Errorf("keys: thumbprint: %w", err)
		}
		pub.KeyID = base64.RawURLEncoding.EncodeToString(thumb)
		if c := pub.KeyID[0]; c != '-' && c != '_' {
			return priv, pub, nil
		}
	}
}

// create generates, encrypts and stores a new key; where the store can, the
// key and its audit event are written in one transaction.
func (m *Manager) create(ctx context.Context, activatesAt time.Time, actor access.Actor) (store.SigningKey, error) {
	priv, pub, err := m.generate()
	if err != nil {
		return store.SigningKey{}, err
	}
	pubJSON, err := json.Marshal(pub)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("keys: encode public key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("keys: encode private key: %w", err)
	}
	sealed, err := m.KEK.seal(m.Rand, der, pub.KeyID)
	if err != nil {
		return store.SigningKey{}, err
	}
	now := m.Now().UTC().Truncate(time.Microsecond)
	sk := store.SigningKey{
		ID: pub.KeyID, Algorithm: string(m.Algorithm), PrivateKey: sealed, PublicKey: pubJSON,
		CreatedAt: now, ActivatesAt: activatesAt.UTC().Truncate(time.Microsecond),
	}
	write := func(s store.SigningKeys) error { return s.CreateSigningKey(ctx, sk) }
	if full, ok := m.Store.(store.Store); ok {
		err = full.InTx(ctx, func(tx store.Store) error {
			if err := write(tx); err != nil {
				return err
			}
			return audit.Write(ctx, tx, actor, audit.KeyRotated, "", sk.ID,
				fmt.Sprintf("%s key published, signs from %s", sk.Algorithm, sk.ActivatesAt.Format(time.RFC3339)), now)
		})
	} else {
		err = write(m.Store)
	}
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("keys: store: %w", err)
	}
	return sk, nil
}

// view returns the ring for now, recomputing it when stale. The common
// case is one atomic load: signing and verifying take no lock.
func (m *Manager) view() (*ring, error) {
	now := m.Now()
	if r := m.current.Load(); r != nil && now.Before(r.staleAfter) {
		return r, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if r := m.current.Load(); r != nil && now.Before(r.staleAfter) {
		return r, nil
	}
	r, err := m.build(now)
	if err != nil {
		return nil, err
	}
	m.current.Store(r)
	return r, nil
}

// build computes who signs and who is published at now.
func (m *Manager) build(now time.Time) (*ring, error) {
	r := &ring{verify: map[string]jose.JSONWebKey{}, staleAfter: now.Add(time.Minute)}
	signer := -1
	for i, k := range m.loaded {
		if !k.activatesAt.After(now) {
			signer = i
		} else if k.activatesAt.Before(r.staleAfter) {
			r.staleAfter = k.activatesAt
		}
	}
	if signer < 0 {
		return nil, errors.New("keys: no active signing key")
	}
	set := jose.JSONWebKeySet{}
	for i, k := range m.loaded {
		if i < signer && now.After(m.loaded[i+1].tookOver().Add(m.TokenTTL+Leeway)) {
			continue // retired, and every token it signed has expired
		}
		r.verify[k.id] = k.public
		set.Keys = append(set.Keys, k.public)
	}
	k := m.loaded[signer]
	s, err := newJWSSigner(k.alg, k.id, k.private)
	if err != nil {
		return nil, fmt.Errorf("keys: signer: %w", err)
	}
	r.signer, r.signerID = s, k.id
	if r.jwks, err = json.Marshal(set); err != nil {
		return nil, fmt.Errorf("keys: encode JWKS: %w", err)
	}
	return r, nil
}

// Sign signs payload as a compact JWS with the current key, with the
// headers typ "at+jwt" and kid (RFC 9068 §2.1).
func (m *Manager) Sign(payload []byte) (string, error) {
	r, err := m.view()
	if err != nil {
		return "", err
	}
	return r.signer.compact(payload)
}

// PublicKey returns the published key with the given ID.
func (m *Manager) PublicKey(kid string) (jose.JSONWebKey, bool) {
	r, err := m.view()
	if err != nil {
		return jose.JSONWebKey{}, false
	}
	k, ok := r.verify[kid]
	return k, ok
}

// JWKS returns the published key set as JSON.
func (m *Manager) JWKS() ([]byte, error) {
	r, err := m.view()
	if err != nil {
		return nil, err
	}
	return r.jwks, nil
}

// SigningKeyID names the key that signs now.
func (m *Manager) SigningKeyID() string {
	r, err := m.view()
	if err != nil {
		return ""
	}
	return r.signerID
}

// Retire takes a key out of service at once, for a key that may have been
// compromised: it is no longer published and every token it signed is
// refused, on every instance within a second (they follow the change
// log). When it is the key that signs, or would sign next, a new key is
// made that signs at once, in an emergency rotation (see Rotate). It
// returns the ID of that new key, if one was made.
func (m *Manager) Retire(ctx context.Context, kid string) (string, error) {
	if err := m.Reload(ctx); err != nil {
		return "", err
	}
	actor := m.Actor
	if actor.Kind == "" {
		actor = access.System
	}
	now := m.Now()
	m.mu.Lock()
	found, others := false, false
	for _, k := range m.loaded {
		switch {
		case k.id == kid:
			found = true
		case !k.activatesAt.After(now):
			others = true // another key in service already signs
		}
	}
	m.mu.Unlock()
	if !found {
		stored, err := m.Store.ListSigningKeys(ctx)
		if err != nil {
			return "", fmt.Errorf("keys: retire: %w", err)
		}
		for _, sk := range stored {
			if sk.ID == kid {
				return "", nil // retired already
			}
		}
		return "", fmt.Errorf("%w: %s", ErrUnknownKey, kid)
	}
	var replacement string
	if m.SigningKeyID() == kid || !others {
		lead := m.PublishLead
		m.PublishLead = 0
		id, _, err := m.Rotate(ctx)
		m.PublishLead = lead
		if err != nil {
			return "", err
		}
		replacement = id
	}
	full, ok := m.Store.(store.Store)
	if !ok {
		return "", errors.New("keys: retire needs the whole store")
	}
	err := full.InTx(ctx, func(tx store.Store) error {
		if err := tx.RetireSigningKey(ctx, kid, now); err != nil {
			return err
		}
		return audit.Write(ctx, tx, actor, audit.KeyRetired, "", kid, "key retired: no longer published, its tokens refused", now)
	})
	if err != nil {
		return "", fmt.Errorf("keys: retire: %w", err)
	}
	return replacement, m.Reload(ctx)
}

// ErrUnknownKey is returned for a key ID that names no signing key.
var ErrUnknownKey = errors.New("keys: no such signing key")
