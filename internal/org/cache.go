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
// store's change log) and Refresh; as in credential.Cache, a state
// replaces the one held only if its Version is higher.
//
// The states are in a sync.Map: organisations are read on every token
// request and API call and change seldom, the case it is made for, and a
// look-up takes no lock whose count the machine's cores would pass
// between them on every request.
type Cache struct {
	store store.Orgs
	orgs  sync.Map // ID → *State
}

// NewCache returns an empty cache over s.
func NewCache(s store.Orgs) *Cache {
	return &Cache{store: s}
}

// ErrUnknown is returned for an organisation that does not exist.
var ErrUnknown = errors.New("org: unknown organisation")

// Lookup returns the organisation, from memory after the first time.
func (c *Cache) Lookup(ctx context.Context, id string) (*State, error) {
	if o, ok := c.orgs.Load(id); ok {
		return o.(*State), nil
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
	for {
		held, loaded := c.orgs.LoadOrStore(so.ID, o)
		if !loaded {
			return o
		}
		if old := held.(*State); old.Version >= o.Version {
			return old
		}
		if c.orgs.CompareAndSwap(so.ID, held, o) {
			return o
		}
	}
}
