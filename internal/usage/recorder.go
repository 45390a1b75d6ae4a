// Package usage records how credentials are used: per credential and hour,
// tokens issued and refused, API calls authenticated and refused, and the
// last use. Recording is in memory on the hot path; a flush writes
// everything gathered in one transaction, at most every second and on
// graceful shutdown. A crash loses at most one flush interval.
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
	r := &Recorder{Store: s, seed: maphash.MakeSeed()}
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

// Flush writes what was gathered since the last flush: the counters in one
// transaction, then the last uses. On failure the counts are kept for the
// next attempt, so nothing is counted twice or lost while the process runs.
func (r *Recorder) Flush(ctx context.Context) error {
	var (
		buckets  []store.UsageBucket
		lastUsed = map[string]store.Use{}
	)
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		for _, b := range sh.counts {
			buckets = append(buckets, *b)
		}
		for id, u := range sh.lastUsed {
			lastUsed[id] = u
		}
		clear(sh.counts)
		clear(sh.lastUsed)
		sh.mu.Unlock()
	}
	if err := r.Store.AddUsage(ctx, buckets); err != nil {
		r.restore(buckets, lastUsed)
		return err
	}
	if err := r.Store.TouchCredentials(ctx, lastUsed); err != nil {
		r.restore(nil, lastUsed)
		return err
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
