package credential

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"sapient.dev/sapient/internal/clientip"
	"sapient.dev/sapient/internal/store"
)

// Entry is the part of a credential the hot paths need, in the form they
// need it: the secret digests decoded, the scopes joined once, the IP
// allow-list parsed.
type Entry struct {
	ClientID  string
	OrgID     string
	Name      string
	Hash      Hash
	Scopes    []string
	Scope     string // Scopes joined by spaces
	RevokedAt time.Time
	ExpiresAt time.Time
	UpdatedAt time.Time
	// PreviousHash is the secret replaced by a roll, valid until
	// PreviousUntil.
	PreviousHash  Hash
	PreviousUntil time.Time
	Allowed       []netip.Prefix // empty: any address
}

// CheckSecret reports whether h is the digest of the credential's secret,
// or of its previous secret while that still works. Both comparisons are
// always made, in constant time.
func (e *Entry) CheckSecret(h Hash, now time.Time) bool {
	current := h.Equal(e.Hash)
	previous := h.Equal(e.PreviousHash) && now.Before(e.PreviousUntil)
	return current || previous
}

// AllowedFrom reports whether the credential may be used from addr.
func (e *Entry) AllowedFrom(addr netip.Addr) bool { return clientip.Allowed(e.Allowed, addr) }

// Active reports whether the credential may obtain and use tokens at now.
func (e *Entry) Active(now time.Time) bool {
	return e.RevokedAt.IsZero() && (e.ExpiresAt.IsZero() || now.Before(e.ExpiresAt))
}

// HasScope reports whether the credential holds scope s.
func (e *Entry) HasScope(s string) bool {
	for _, have := range e.Scopes {
		if have == s {
			return true
		}
	}
	return false
}

func newEntry(c store.Credential) (*Entry, error) {
	h, err := ParseHash(c.SecretHash)
	if err != nil {
		return nil, fmt.Errorf("credential %s: %w", c.ClientID, err)
	}
	e := &Entry{
		ClientID: c.ClientID, OrgID: c.OrgID, Name: c.Name, Hash: h,
		Scopes: c.Scopes, Scope: strings.Join(c.Scopes, " "),
		RevokedAt: c.RevokedAt, ExpiresAt: c.ExpiresAt, UpdatedAt: c.UpdatedAt,
	}
	if c.PreviousSecretHash != "" {
		if e.PreviousHash, err = ParseHash(c.PreviousSecretHash); err != nil {
			return nil, fmt.Errorf("credential %s: previous secret: %w", c.ClientID, err)
		}
		e.PreviousUntil = c.PreviousSecretExpiresAt
	}
	for _, cidr := range c.AllowedCIDRs {
		p, err := clientip.ParsePrefix(cidr)
		if err != nil {
			return nil, fmt.Errorf("credential %s: allowed address: %w", c.ClientID, err)
		}
		e.Allowed = append(e.Allowed, p)
	}
	return e, nil
}

// Cache is this instance's view of the credentials that have been used,
// so that issuing and checking tokens needs no database round trip in the
// common case. It learns of changes made here at once (Put) and of changes
// made by other instances or the CLI by polling (Sync).
type Cache struct {
	store store.Credentials
	// get reads one credential: the store's prepared statement where it
	// offers one (see preparer), else GetCredential.
	getOnce sync.Once
	get     func(ctx context.Context, clientID string) (store.Credential, error)

	mu      sync.RWMutex
	entries map[string]*Entry
	missing map[string]time.Time // client IDs recently looked up and not found
}

// NewCache returns an empty cache over s.
func NewCache(s store.Credentials) *Cache {
	return &Cache{store: s, entries: map[string]*Entry{}, missing: map[string]time.Time{}}
}

// missTTL bounds how long an unknown client ID is remembered as unknown;
// it is also the bound on how late a credential created on another
// instance can be seen here.
const missTTL = time.Second

// Lookup returns the entry for clientID, loading it from the store on
// first use. It returns ErrNotFound for an unknown client ID.
func (c *Cache) Lookup(ctx context.Context, clientID string, now time.Time) (*Entry, error) {
	c.mu.RLock()
	e, ok := c.entries[clientID]
	missAt, missed := c.missing[clientID]
	c.mu.RUnlock()
	if ok {
		return e, nil
	}
	if missed && now.Sub(missAt) < missTTL {
		return nil, ErrNotFound
	}
	sc, err := c.getter(ctx)(ctx, clientID)
	if errors.Is(err, store.ErrNotFound) {
		c.mu.Lock()
		if len(c.missing) > 100_000 {
			clear(c.missing)
		}
		c.missing[clientID] = now
		c.mu.Unlock()
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("credential: lookup: %w", err)
	}
	e, err = newEntry(sc)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if old, ok := c.entries[clientID]; ok && old.UpdatedAt.After(e.UpdatedAt) {
		e = old // a newer version arrived meanwhile
	} else {
		c.entries[clientID] = e
	}
	delete(c.missing, clientID)
	c.mu.Unlock()
	return e, nil
}

// preparer is a store that can prepare the credential read once
// (store.SQL): the first sight of a credential then costs a third.
type preparer interface {
	PrepareGetCredential(ctx context.Context) (func(ctx context.Context, clientID string) (store.Credential, error), error)
}

// getter returns how to read a credential from the store, preparing the
// statement on first use where the store can.
func (c *Cache) getter(ctx context.Context) func(ctx context.Context, clientID string) (store.Credential, error) {
	c.getOnce.Do(func() {
		c.get = c.store.GetCredential
		if p, ok := c.store.(preparer); ok {
			if get, err := p.PrepareGetCredential(context.WithoutCancel(ctx)); err == nil {
				c.get = get
			}
		}
	})
	return c.get
}

// Put records a credential created or changed on this instance.
func (c *Cache) Put(sc store.Credential) {
	e, err := newEntry(sc)
	if err != nil {
		return
	}
	c.mu.Lock()
	if old, ok := c.entries[sc.ClientID]; !ok || !old.UpdatedAt.After(e.UpdatedAt) {
		c.entries[sc.ClientID] = e
	}
	delete(c.missing, sc.ClientID)
	c.mu.Unlock()
}

// Sync applies changes made since the given time by any instance. Only
// credentials already cached are refreshed; the rest load on first use.
func (c *Cache) Sync(ctx context.Context, since time.Time) error {
	changed, err := c.store.CredentialsUpdatedSince(ctx, since)
	if err != nil {
		return fmt.Errorf("credential: sync: %w", err)
	}
	for _, sc := range changed {
		c.mu.RLock()
		_, cached := c.entries[sc.ClientID]
		_, missed := c.missing[sc.ClientID]
		c.mu.RUnlock()
		if cached || missed {
			c.Put(sc)
		}
	}
	return nil
}

// Len reports how many credentials are cached.
func (c *Cache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}
