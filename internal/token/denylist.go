package token

import (
	"context"
	"fmt"
	"sync"
	"time"

	"sapient.dev/sapient/internal/store"
)

// Denylist holds the IDs of tokens revoked before their expiry (RFC 7009),
// in memory, until they expire.
type Denylist struct {
	mu  sync.RWMutex
	jti map[string]time.Time
}

// NewDenylist returns an empty denylist.
func NewDenylist() *Denylist { return &Denylist{jti: map[string]time.Time{}} }

// Add records a revoked token.
func (d *Denylist) Add(jti string, exp time.Time) {
	d.mu.Lock()
	d.jti[jti] = exp
	d.mu.Unlock()
}

// Contains reports whether a token was revoked.
func (d *Denylist) Contains(jti string) bool {
	d.mu.RLock()
	_, ok := d.jti[jti]
	d.mu.RUnlock()
	return ok
}

// Load adds every revoked token that has not expired at now. Instances
// call it at start; afterwards they Add what the change log names.
func (d *Denylist) Load(ctx context.Context, s store.Tokens, now time.Time) error {
	revoked, err := s.ListRevokedTokens(ctx, now.Add(-time.Minute))
	if err != nil {
		return fmt.Errorf("token: load denylist: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range revoked {
		d.jti[r.JTI] = r.ExpiresAt
	}
	return nil
}

// Prune forgets the tokens that expired a minute or more before now: they
// are refused as expired anyway.
func (d *Denylist) Prune(now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for j, exp := range d.jti {
		if now.After(exp.Add(time.Minute)) {
			delete(d.jti, j)
		}
	}
}
