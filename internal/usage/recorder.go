// Package usage records how credentials are used. Recording is in memory
// on the hot path and written to the store in batches.
package usage

import (
	"context"
	"sync"
	"time"

	"sapient.dev/sapient/internal/store"
)

// Recorder gathers the last use of each credential and writes it at most
// once per flush. A crash loses at most one flush interval of "last used"
// updates.
type Recorder struct {
	Store store.Credentials

	mu       sync.Mutex
	lastUsed map[string]time.Time
}

// NewRecorder returns a recorder that writes to s.
func NewRecorder(s store.Credentials) *Recorder {
	return &Recorder{Store: s, lastUsed: map[string]time.Time{}}
}

// Used records that clientID was used at t.
func (r *Recorder) Used(clientID string, t time.Time) {
	r.mu.Lock()
	if t.After(r.lastUsed[clientID]) {
		r.lastUsed[clientID] = t
	}
	r.mu.Unlock()
}

// Flush writes what was gathered since the last flush. On failure the
// entries are kept for the next attempt.
func (r *Recorder) Flush(ctx context.Context) error {
	r.mu.Lock()
	batch := r.lastUsed
	r.lastUsed = make(map[string]time.Time, len(batch))
	r.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	if err := r.Store.TouchCredentials(ctx, batch); err != nil {
		for id, t := range batch {
			r.Used(id, t)
		}
		return err
	}
	return nil
}
