// Package usage records how credentials are used: per credential and hour,
// tokens issued and refused, API calls authenticated and refused, and the
// last use. Recording is in memory on the hot path; a flush writes the
// counts gathered in one transaction, at most every second and on graceful
// shutdown. A crash loses at most one flush interval of counts.
//
// The last use is kept to the minute: the periodic flush writes a
// credential's last use only when it moved by at least LastUsedPrecision
// from what this instance last wrote for it, or when that write is at least
// LastUsedPrecision old; a final Flush writes every last use it holds.
package usage

import (
	"context"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"sapient.dev/sapient/internal/store"
)

// Event is one kind of counted activity.
type Event uint8

// The counted activities.
const (
	TokenIssued  Event = iota // the token endpoint issued a token
	TokenRefused              // the token endpoint refused a known credential
	APICall                   // a call authenticated by one of the credential's tokens
	APIRefused                // a call refused (401, 403, 429) for one of its tokens
)

const shards = 16

// LastUsedPrecision is how far behind the stored last use may be while the
// process runs: the periodic flush writes a credential's last use at most
// once per this interval.
const LastUsedPrecision = time.Minute

// Recorder gathers usage in memory. It is safe for concurrent use.
type Recorder struct {
	Store interface {
		AddUsage(ctx context.Context, buckets []store.UsageBucket) error
		TouchCredentials(ctx context.Context, lastUsed map[string]store.Use) error
	}
	// disabled turns recording off, for benchmarks that compare.
	disabled atomic.Bool

	seed   maphash.Seed
	shards [shards]shard

	// Now is the clock the periodic flush ages last-use writes by (the
	// clock the recorded times come from); time.Now if nil.
	Now func() time.Time

	// flushMu serialises flushes and guards written, pending and pruned.
	flushMu sync.Mutex
	// written is, per credential, the last use this instance wrote
	// (Unix microseconds), for entries younger than LastUsedPrecision.
	written map[string]int64
	// pending holds last uses the periodic flush held back.
	pending map[string]store.Use
	pruned  time.Time
}

type bucketKey struct {
	clientID string
	hour     int64 // Unix hour
}

type shard struct {
	mu       sync.Mutex
	counts   map[bucketKey]*store.UsageBucket
	lastUsed map[string]store.Use
}

// NewRecorder returns a recorder that writes to s.
func NewRecorder(s interface {
	AddUsage(ctx context.Context, buckets []store.UsageBucket) error
	TouchCredentials(ctx context.Context, lastUsed map[string]store.Use) error
}) *Recorder {
	r := &Recorder{Store: s, seed: maphash.MakeSeed(),
		written: map[string]int64{}, pending: map[string]store.Use{}}
	for i := range r.shards {
		r.shards[i].counts = map[bucketKey]*store.UsageBucket{}
		r.shards[i].lastUsed = map[string]store.Use{}
	}
	return r
}

// SetEnabled turns recording on (the default) or off. Off, Record does
// nothing; the benchmark command measures what recording costs this way.
func (r *Recorder) SetEnabled(on bool) { r.disabled.Store(!on) }

// Record counts one event of a credential at t. Issued tokens and
// authenticated calls also move the credential's last use to t and ip.
func (r *Recorder) Record(clientID, orgID string, ev Event, t time.Time, ip string) {
	if r.disabled.Load() {
		return
	}
	sh := &r.shards[maphash.String(r.seed, clientID)%shards]
	key := bucketKey{clientID, t.Unix() / 3600}
	sh.mu.Lock()
	b := sh.counts[key]
	if b == nil {
		b = &store.UsageBucket{ClientID: clientID, OrgID: orgID, Hour: time.Unix(key.hour*3600, 0).UTC()}
		sh.counts[key] = b
	}
	switch ev {
	case TokenIssued:
		b.TokensIssued++
	case TokenRefused:
		b.TokensRefused++
	case APICall:
		b.APICalls++
	case APIRefused:
		b.APIRefused++
	}
	if ev == TokenIssued || ev == APICall {
		if u := sh.lastUsed[clientID]; t.After(u.At) {
			sh.lastUsed[clientID] = store.Use{At: t, IP: ip}
		}
	}
	sh.mu.Unlock()
}

// Flush writes everything gathered since the last flush: the counters in
// one transaction, then every last use held, to the microsecond. It is the
// final flush, at graceful shutdown. On failure the counts are kept for the
// next attempt, so nothing is counted twice or lost while the process runs.
func (r *Recorder) Flush(ctx context.Context) error { return r.flush(ctx, true) }

// FlushPeriodic writes the counters as Flush does, and the last uses that
// moved by at least LastUsedPrecision since this instance last wrote them
// (or whose last write is that old); the others wait for a later flush.
// With many credentials each used now and then, this keeps the write from
// growing to one row per credential per second.
func (r *Recorder) FlushPeriodic(ctx context.Context) error { return r.flush(ctx, false) }

func (r *Recorder) flush(ctx context.Context, all bool) error {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	var (
		buckets  []store.UsageBucket
		lastUsed = r.pending
	)
	r.pending = map[string]store.Use{}
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		for _, b := range sh.counts {
			buckets = append(buckets, *b)
		}
		for id, u := range sh.lastUsed {
			if cur, ok := lastUsed[id]; !ok || u.At.After(cur.At) {
				lastUsed[id] = u
			}
		}
		clear(sh.counts)
		clear(sh.lastUsed)
		sh.mu.Unlock()
	}
	if !all {
		now := time.Now()
		if r.Now != nil {
			now = r.Now()
		}
		if now.Sub(r.pruned) >= LastUsedPrecision {
			// Entries this old no longer hold anything back.
			r.pruned = now
			limit := now.Add(-LastUsedPrecision).UnixMicro()
			for id, w := range r.written {
				if w <= limit {
					delete(r.written, id)
				}
			}
		}
		precision := LastUsedPrecision.Microseconds()
		nowMicro := now.UnixMicro()
		for id, u := range lastUsed {
			w, ok := r.written[id]
			if ok && u.At.UnixMicro()-w < precision && nowMicro-w < precision {
				r.pending[id] = u
				delete(lastUsed, id)
			}
		}
	}
	if err := r.Store.AddUsage(ctx, buckets); err != nil {
		r.restore(buckets, lastUsed)
		return err
	}
	if err := r.Store.TouchCredentials(ctx, lastUsed); err != nil {
		r.restore(nil, lastUsed)
		return err
	}
	for id, u := range lastUsed {
		if at := u.At.UnixMicro(); at > r.written[id] {
			r.written[id] = at
		}
	}
	return nil
}

// restore puts back what a failed flush took.
func (r *Recorder) restore(buckets []store.UsageBucket, lastUsed map[string]store.Use) {
	for _, b := range buckets {
		sh := &r.shards[maphash.String(r.seed, b.ClientID)%shards]
		key := bucketKey{b.ClientID, b.Hour.Unix() / 3600}
		sh.mu.Lock()
		cur := sh.counts[key]
		if cur == nil {
			cur = &store.UsageBucket{ClientID: b.ClientID, OrgID: b.OrgID, Hour: b.Hour}
			sh.counts[key] = cur
		}
		cur.TokensIssued += b.TokensIssued
		cur.TokensRefused += b.TokensRefused
		cur.APICalls += b.APICalls
		cur.APIRefused += b.APIRefused
		sh.mu.Unlock()
	}
	for id, u := range lastUsed {
		sh := &r.shards[maphash.String(r.seed, id)%shards]
		sh.mu.Lock()
		if cur := sh.lastUsed[id]; u.At.After(cur.At) {
			sh.lastUsed[id] = u
		}
		sh.mu.Unlock()
	}
}
