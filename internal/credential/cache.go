package credential

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"net/netip"
	"strings"
	"sync"
	"time"

	"sapient.dev/sapient/internal/clientip"
	"sapient.dev/sapient/internal/doorkeeper"
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

// Cache is this instance's view of the credentials, so that issuing and
// checking tokens needs no database round trip. It has two tiers: the
// entries used lately, ready to use (at most hotMax of them), and, once
// Load has run, every credential in a compact table. A credential in
// neither is read from the store on first use. The cache learns of changes
// made here at once (Put) and of changes made by other instances or the
// CLI by polling (Sync); of two versions of a credential, the one with the
// later UpdatedAt wins, whatever order they arrive in.
type Cache struct {
	store store.Credentials
	// get reads one credential: the store's prepared statement where it
	// offers one (see preparer), else GetCredential.
	getOnce sync.Once
	get     func(ctx context.Context, clientID string) (store.Credential, error)

	// once admits a credential read from the table to the entries used
	// lately the second time it is asked for: with a million credentials
	// most are asked for once in a long while, and keeping each of them
	// (a write lock, a second probe of the table, an eviction later) only
	// turned the entries over without a hit.
	once doorkeeper.Table

	mu      sync.RWMutex
	entries map[string]*Entry    // used lately
	table   *table               // every credential, once Load has run
	loading bool                 // Load is running: keep every change in entries
	missing map[string]time.Time // client IDs recently looked up and not found
	hotMax  int                  // bound on entries
	changes uint64               // changes kept, made here or polled: a read can tell one came after it
	local   uint64               // changes made here: a poll can tell one came after it
}

// source is where keep's entry comes from.
type source int

const (
	fromPut   source = iota // a change made here
	fromPoll                // a change polled from the store
	fromTable               // a read of the table
	fromStore               // a read of the store
)

// hotMax bounds the entries kept ready to use; beyond it, an eighth of
// them, chosen at random, make room. With the table an evicted entry is
// rebuilt from it when next used (a few microseconds, three allocations);
// without, read from the store. Kept small, the entries cost the garbage
// collector little to scan.
const hotMax = 1 << 13

// NewCache returns an empty cache over s.
func NewCache(s store.Credentials) *Cache {
	return &Cache{store: s, entries: map[string]*Entry{}, missing: map[string]time.Time{}, hotMax: hotMax}
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
	if ok {
		c.mu.RUnlock()
		return e, nil
	}
	admit := false
	if c.table != nil {
		if e, ok = c.table.get(clientID); ok {
			admit = c.once.Admit(maphash.String(c.table.seed, clientID))
		}
	}
	missAt, missed := c.missing[clientID]
	seq := c.changes
	c.mu.RUnlock()
	if ok {
		if !admit {
			return e, nil
		}
		return c.keep(e, fromTable, seq), nil
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
	return c.keep(e, fromStore, seq), nil
}

// keep records e in both tiers (in the entries used lately only, if it
// came from the table) unless a newer version is there already, and
// returns the version kept. Anything but a change made here was read
// earlier: seq is c.changes when a read began, c.local when a poll did. A
// change since then may already have been evicted from the entries, so
// the table (which keeps every change) decides, or, with no table, what
// was read is answered but not kept.
func (c *Cache) keep(e *Entry, from source, seq uint64) *Entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer delete(c.missing, e.ClientID)
	read := from == fromTable || from == fromStore
	switch from {
	case fromPut:
		c.changes++
		c.local++
	case fromPoll:
		c.changes++
	}
	old, ok := c.entries[e.ClientID]
	switch {
	case ok && supersedes(micros(old.UpdatedAt), !old.RevokedAt.IsZero(), e, from == fromPut):
		return old // a newer version arrived meanwhile
	case !ok && from != fromPut && c.table != nil:
		if cur, newer := c.table.newer(e); newer {
			e, from = cur, fromTable
		}
	case !ok && read && c.changes != seq, !ok && from == fromPoll && c.local != seq:
		return e
	}
	if !ok && !c.loading && len(c.entries) >= c.hotMax {
		c.evict()
	}
	c.entries[e.ClientID] = e
	if c.table != nil && from != fromTable {
		c.table.put(e, from == fromPut)
	}
	return e
}

// evict drops an eighth of the entries used lately, at random (the order
// in which Go ranges over a map). The caller holds mu.
func (c *Cache) evict() {
	n := len(c.entries) / 8
	for id := range c.entries {
		if n--; n < 0 {
			break
		}
		delete(c.entries, id)
	}
}

// Load reads every credential that is not revoked into the table, while
// the cache serves as before; it is meant to run once, in the background,
// at start. Changes that arrive meanwhile (Put, Sync, reads on first use)
// are kept and win over the older versions Load read. It reports how many
// credentials the table holds.
func (c *Cache) Load(ctx context.Context) (int, error) {
	c.mu.Lock()
	if c.loading || c.table != nil {
		c.mu.Unlock()
		return 0, errors.New("credential: load: already loaded")
	}
	c.loading = true
	c.mu.Unlock()
	t := newTable()
	err := c.store.ScanCredentials(ctx, func(sc store.Credential) error {
		// A credential the cache cannot read stays out of the table; its
		// first use reads it from the store and answers its error.
		if e, err := newEntry(sc); err == nil {
			t.put(e, false)
		}
		return nil
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	c.loading = false
	if err != nil {
		return 0, fmt.Errorf("credential: load: %w", err)
	}
	for _, e := range c.entries { // what was heard of meanwhile
		t.put(e, true)
	}
	c.table = t
	return t.len(), nil
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
	if e, err := newEntry(sc); err == nil {
		c.keep(e, fromPut, 0)
	}
}

// Len reports how many credentials are cached: in the table once loaded,
// else among those used lately.
func (c *Cache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.table != nil {
		return c.table.len()
	}
	return len(c.entries)
}
