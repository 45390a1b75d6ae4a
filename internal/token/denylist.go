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

// Sync adds tokens revoked since the given time, by any instance, and
// forgets those that have expired.
func (d *Denylist) Sync(ctx context.Context, s store.Tokens, since, now time.Time) error {
	revoked, err := s.RevokedTokensSince(ctx, since)
	if err != nil {
		return fmt.Errorf("token: sync denylist: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range revoked {
		d.jti[r.JTI] = r.ExpiresAt
	}
	for j, exp := range d.jti {
		if now.After(exp.Add(time.Minute)) {
			delete(d.jti, j)
		}
	}
	return nil
}
