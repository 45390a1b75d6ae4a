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
	"sapient.dev/sapient/internal/org"
	"sapient.dev/sapient/internal/store"
)

// Entry is the part of a credential the hot paths need, in the form they
// need it: the secret digests decoded, the scopes joined once, the IP
// allow-list parsed. An Entry is shared: callers must not change it.
type Entry struct {
	ClientID  string
	OrgID     string
	Name      string
	Hash      Hash
	Scopes    []string
	Scope     string // Scopes joined by spaces
	RevokedAt time.Time
	ExpiresAt time.Time
	// Version is the store's Version of the credential: of two entries
	// of one credential, the one with the higher Version is the newer.
	Version int64
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
		RevokedAt: c.RevokedAt, ExpiresAt: c.ExpiresAt, Version: c.Version,
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

// Cache is this instance's view of the credentials, so that issuing and
// checking tokens needs no database round trip. It holds every credential
// it has heard of in one map whose keys and values hold no pointers (see
// rows), which the garbage collector never scans; Load reads every
// credential at start, and a credential it does not hold is read from the
// store on first use.
//
// Versions, not clocks, order what the cache hears: a credential's
// version from the store (Lookup, Load) or from a change (Put) replaces
// the one held only if its Version is higher. Versions only go up, so no
// order of arrival can bring back a version a change has replaced, a
// revocation included.
type Cache struct {
	// Orgs, when set, is refreshed from the store with a credential's
	// organisation whenever Lookup reads from the store a credential the
	// cache did not hold, before the credential is answered: a credential
	// made moments ago with a scope just granted to its organisation is
	// then judged against an organisation at least as new as itself, not
	// against an older view held in memory.
	Orgs *org.Cache

	store store.Credentials
	// get reads one credential: the store's prepared statement where it
	// offers one (see preparer), else GetCredential.
	getOnce sync.Once
	get     func(ctx context.Context, clientID string) (store.Credential, error)

	mu      sync.RWMutex
	rows    rows
	missing map[string]time.Time // client IDs recently looked up and not found
}

// NewCache returns an empty cache over s.
func NewCache(s store.Credentials) *Cache {
	return &Cache{store: s, rows: newRows(), missing: map[string]time.Time{}}
}

// missTTL bounds how long an unknown client ID is remembered as unknown;
// it is also the bound on how late a credential created on another
// instance can be seen here if nothing else tells the cache of it.
const missTTL = time.Second

// Lookup returns the entry for clientID, reading it from the store if the
// cache does not hold it. It returns ErrNotFound for an unknown client ID.
func (c *Cache) Lookup(ctx context.Context, clientID string, now time.Time) (*Entry, error) {
	return c.LookupInto(ctx, clientID, now, nil)
}

// LookupInto is Lookup that may write the entry to dst, which the caller
// keeps where it likes, and return dst; or return an entry of its own.
// Nothing else writes to dst.
func (c *Cache) LookupInto(ctx context.Context, clientID string, now time.Time, dst *Entry) (*Entry, error) {
	c.mu.RLock()
	e, ok := c.rows.get(clientID, dst)
	var missAt time.Time
	var missed bool
	if !ok {
		missAt, missed = c.missing[clientID]
	}
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
		c.missing[strings.Clone(clientID)] = now // not memory shared with a secret
		c.mu.Unlock()
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("credential: lookup: %w", err)
	}
	if e, err = newEntry(sc); err != nil {
		return nil, err
	}
	if c.Orgs != nil {
		// An unknown organisation is answered by whoever looks it up.
		if _, err := c.Orgs.Refresh(ctx, sc.OrgID); err != nil && !errors.Is(err, org.ErrUnknown) {
			return nil, fmt.Errorf("credential: lookup: %w", err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.keep(e) {
		e, _ = c.rows.get(clientID, nil) // a newer version arrived meanwhile
	}
	return e, nil
}

// keep holds e unless the cache holds a version of its credential at least
// as new, and reports whether it did. The caller holds mu.
func (c *Cache) keep(e *Entry) bool {
	delete(c.missing, e.ClientID)
	if v, ok := c.rows.version(e.ClientID); ok && v >= e.Version {
		return false
	}
	c.rows.put(e)
	return true
}

// Put records a version of a credential: a change made on this instance,
// or one read from the store's change log. It replaces the version held
// only if its Version is higher. A version whose secret digest cannot be
// read is ignored; the credential's next read from the store answers the
// error.
func (c *Cache) Put(sc store.Credential) {
	e, err := newEntry(sc)
	if err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.keep(e)
}

// Load reads every credential that is not revoked from the store, while
// the cache serves as before; it is meant to run once, in the background,
// at start. A version Load reads never replaces one as new or newer that
// the cache heard of meanwhile. It reports how many credentials it read.
func (c *Cache) Load(ctx context.Context) (int, error) {
	n := 0
	err := c.store.ScanCredentials(ctx, func(sc store.Credential) error {
		n++
		// A credential whose digest cannot be read stays out; its first
		// use reads it from the store and answers the error.
		if e, err := newEntry(sc); err == nil {
			c.mu.Lock()
			c.keep(e)
			c.mu.Unlock()
		}
		return nil
	})
	if err != nil {
		return n, fmt.Errorf("credential: load: %w", err)
	}
	return n, nil
}

// Len reports how many credentials the cache holds.
func (c *Cache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.rows.len()
}

// preparer is a store that can prepare the credential read once
// (store.SQL): the first sight of a credential then costs a third, and
// does not wait for the usage fold that GetCredential's last use needs.
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
