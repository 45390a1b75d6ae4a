package server

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"sapient.dev/sapient/internal/ratelimit"
	"sapient.dev/sapient/internal/store"
)

// changesPerRead bounds the change log entries one read of the log returns.
const changesPerRead = 1000

// Sync applies, in order, every entry of the change log after the last one
// this instance applied: credentials, organisations, revoked tokens and
// signing keys changed by any instance or the CLI. It is the one step of
// keeping the instance in step; the background loop takes it every
// SyncInterval and whenever the database announces a change, and tests
// take it directly. Changes made on this instance are in memory already;
// applying them again changes nothing, as of two versions of a credential
// or an organisation the caches keep the later in the log. On an error the
// entries applied so far stay applied and the next step resumes at the
// first that was not.
func (s *Server) Sync(ctx context.Context) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	for {
		changes, err := s.cfg.Store.ChangesAfter(ctx, s.cursor, changesPerRead)
		if err != nil {
			return fmt.Errorf("server: sync: %w", err)
		}
		for _, c := range changes {
			if err := s.apply(ctx, c); err != nil {
				return fmt.Errorf("server: sync: %s %s: %w", c.Kind, c.Ref, err)
			}
			s.cursor = c.Seq
		}
		if len(changes) > 0 {
			s.applied.fire()
		}
		if len(changes) < changesPerRead {
			return nil
		}
	}
}

// apply brings one change into memory by reading what it names as the
// database holds it now, which is that change or a later one.
func (s *Server) apply(ctx context.Context, c store.Change) error {
	switch c.Kind {
	case store.ChangeCredential:
		sc, err := s.cfg.Store.GetCredential(ctx, c.Ref)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		s.Cache.Put(sc)
	case store.ChangeOrg:
		o, err := s.cfg.Store.GetOrg(ctx, c.Ref)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		s.Orgs.Put(o)
	case store.ChangeToken:
		t, err := s.cfg.Store.GetRevokedToken(ctx, c.Ref)
		if errors.Is(err, store.ErrNotFound) {
			return nil // expired and forgotten since
		} else if err != nil {
			return err
		}
		s.Denylist.Add(t.JTI, t.ExpiresAt)
	case store.ChangeKey:
		return s.Keys.Reload(ctx)
	case store.ChangeResource:
		return s.Resources.Load(ctx, s.cfg.Store)
	}
	return nil
}

// syncLoop takes a Sync step every SyncInterval and as soon as the
// database announces a change (PostgreSQL), and forgets the rate-limit
// buckets of clients gone quiet (every second: with many credentials each
// used now and then, they would otherwise pile up). It only reads the
// database.
func (s *Server) syncLoop() {
	syncT := time.NewTicker(s.cfg.SyncInterval)
	pruneT := time.NewTicker(ratelimit.FullAfter)
	defer syncT.Stop()
	defer pruneT.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.watch(ctx, s.kick)
	for {
		select {
		case <-s.stop:
			return
		case <-syncT.C:
		case <-s.wake:
		case <-pruneT.C:
			now := s.cfg.Now()
			idle := now.Add(-ratelimit.FullAfter)
			s.Limiter.Prune(idle)
			s.APILimiter.Prune(idle)
			s.Denylist.Prune(now)
			continue
		}
		if err := s.Sync(ctx); err != nil {
			s.log.Warn("sync with the database failed", "err", err)
		}
	}
}

// watch relays the database's announcements of changes to wake until ctx
// ends, listening again a second after the connection is lost. Where the
// database announces nothing, the poll is all there is.
func (s *Server) watch(ctx context.Context, wake func()) {
	for {
		err := s.cfg.Store.WatchChanges(ctx, wake)
		if err == nil || ctx.Err() != nil {
			return
		}
		s.log.Warn("listening for changes failed; polling meanwhile", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// Changed returns a channel that is closed when this instance next applies
// changes from the log: followers of the revocation feed wait on it.
func (s *Server) Changed() <-chan struct{} { return s.applied.wait() }

// broadcast wakes every waiter at once, each time it fires.
type broadcast struct {
	mu sync.Mutex
	ch chan struct{}
}

func (b *broadcast) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch == nil {
		b.ch = make(chan struct{})
	}
	return b.ch
}

func (b *broadcast) fire() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch != nil {
		close(b.ch)
		b.ch = nil
	}
}

// Drain ends the requests that wait for changes (the revocation feed's
// long polls and event streams) at once, as a shutdown begins; Close
// does too.
func (s *Server) Drain() { s.drainOnce.Do(func() { close(s.draining) }) }

// kick makes the sync loop take a step now: the database announced a
// change, or this instance made one, which followers of the revocation
// feed then hear of at once rather than at the next poll.
func (s *Server) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
