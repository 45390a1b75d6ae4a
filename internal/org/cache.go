package org

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"sapient.dev/sapient/internal/scope"
	"sapient.dev/sapient/internal/store"
)

// State is what the hot paths need of an organisation: the scopes it
// may grant and its rate limits.
type State struct {
	ID             string
	Name           string
	Scopes         []string
	TokenRateLimit int
	APIRateLimit   int
	// Version is the store's Version of the organisation: of two states
	// of one organisation, the one with the higher Version is the newer.
	Version int64
}

// Allows reports whether a credential of the organisation may use scope s
// now: s is in the organisation's grant, or it is reserved for Admins, who
// grant it credential by credential.
func (o *State) Allows(s string) bool {
	return scope.Reserved(s) || slices.Contains(o.Scopes, s)
}

// Effective returns the scopes of a credential of the organisation (scopes,
// and the same joined by spaces) that the organisation still allows, joined
// by spaces. A scope withdrawn from the organisation disappears from every
// credential at once.
func (o *State) Effective(scopes []string, joined string) string {
	for _, s := range scopes {
		if !o.Allows(s) {
			kept := make([]string, 0, len(scopes))
			for _, s := range scopes {
				if o.Allows(s) {
					kept = append(kept, s)
				}
			}
			return strings.Join(kept, " ")
		}
	}
	return joined // the common case: nothing withdrawn, nothing allocated
}

// Cache keeps the organisations in memory, reading each from the store
// on first use. Changes reach it through Put (made here, or read from the
// store's change log) and Refresh; as in credential.Cache, a state replaces the one
// held only if its Version is higher.
type Cache struct {
	store store.Orgs
	mu    sync.RWMutex
	orgs  map[string]*State
}

// NewCache returns an empty cache over s.
func NewCache(s store.Orgs) *Cache {
	return &Cache{store: s, orgs: map[string]*State{}}
}

// ErrUnknown is returned for an organisation that does not exist.
var ErrUnknown = errors.New("org: unknown organisation")

// Lookup returns the organisation, from memory after the first time.
func (c *Cache) Lookup(ctx context.Context, id string) (*State, error) {
	c.mu.RLock()
	o, ok := c.orgs[id]
	c.mu.RUnlock()
	if ok {
		return o, nil
	}
	return c.Refresh(ctx, id)
}

// Refresh reads the organisation from the store and keeps it, unless the
// cache holds a state at least as new, and returns the state kept.
func (c *Cache) Refresh(ctx context.Context, id string) (*State, error) {
	so, err := c.store.GetOrg(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnknown
	} else if err != nil {
		return nil, fmt.Errorf("org: %w", err)
	}
	return c.put(so), nil
}

// Put records a state of an organisation: a change made on this instance,
// or one read from the store's change log. It replaces the state held
// only if its Version is higher.
func (c *Cache) Put(so store.Org) { c.put(so) }

func (c *Cache) put(so store.Org) *State {
	o := &State{ID: so.ID, Name: so.Name, Scopes: so.Scopes, TokenRateLimit: so.TokenRateLimit,
		APIRateLimit: so.APIRateLimit, Version: so.Version}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.orgs[so.ID]; ok && old.Version >= o.Version {
		return old
	}
	c.orgs[so.ID] = o
	return o
}
