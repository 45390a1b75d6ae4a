// Package usage records how credentials are used: per credential and hour,
// tokens issued and refused, API calls authenticated and refused, and the
// last use (time and address) within the hour. Recording is in memory on
// the hot path; a flush writes what was gathered in one transaction, one
// row per credential and hour, every second and on graceful shutdown. The
// last use rides on that row, so it is exact to the flush and costs no
// write of its own. A crash loses at most one flush interval of
// counts and last uses.
package usage

import (
	"context"
	"hash/maphash"
	"net/netip"
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
	Store Writer
	// disabled turns recording off, for benchmarks that compare.
	disabled atomic.Bool

	seed   maphash.Seed
	shards [shards]shard

	// flushMu serialises flushes, so that a final Flush returns only once
	// a periodic one in progress has written what it took. It also guards
	// out, the buckets of the last flush, whose memory the next one reuses.
	flushMu sync.Mutex
	out     []store.UsageBucket

	// routes counts calls to the operator's API by hour, credential, route
	// and outcome, in shards as buckets are.
	routes [shards]routeShard
}

type routeShard struct {
	mu     sync.Mutex
	counts map[routeKey]int64
}

// Writer is where a Recorder writes what it gathered.
type Writer interface {
	AddUsage(ctx context.Context, buckets []store.UsageBucket) error
	AddRouteUsage(ctx context.Context, rows []store.RouteUsage) error
}

type routeKey struct {
	hour                            int64 // Unix hours
	clientID, orgID, route, outcome string
}

// RecordRoute counts one call to route of the operator's API with its
// outcome ("accepted" or a refusal's reason), for the credential (empty
// when the call's credential was not identified).
func (r *Recorder) RecordRoute(clientID, orgID, route, outcome string, t time.Time) {
	r.RecordRouteN(clientID, orgID, route, outcome, 1, t)
}

// RecordRouteN counts n calls to route with their outcome, as RecordRoute
// counts one.
func (r *Recorder) RecordRouteN(clientID, orgID, route, outcome string, n int64, t time.Time) {
	if r.disabled.Load() || n <= 0 {
		return
	}
	k := routeKey{t.Unix() / 3600, clientID, orgID, route, outcome}
	sh := &r.routes[maphash.String(r.seed, clientID)%shards]
	sh.mu.Lock()
	if sh.counts == nil {
		sh.counts = map[routeKey]int64{}
	}
	sh.counts[k] += n
	sh.mu.Unlock()
}

// flushRoutes writes the route counts gathered since the last flush; on
// failure they are kept for the next.
func (r *Recorder) flushRoutes(ctx context.Context) error {
	taken := map[routeKey]int64{}
	for i := range r.routes {
		sh := &r.routes[i]
		sh.mu.Lock()
		for k, n := range sh.counts {
			taken[k] += n
		}
		sh.counts = nil
		sh.mu.Unlock()
	}
	if len(taken) == 0 {
		return nil
	}
	rows := make([]store.RouteUsage, 0, len(taken))
	for k, n := range taken {
		rows = append(rows, store.RouteUsage{Hour: time.Unix(k.hour*3600, 0).UTC(), ClientID: k.clientID, OrgID: k.orgID,
			Route: k.route, Outcome: k.outcome, Calls: n})
	}
	if err := r.Store.AddRouteUsage(ctx, rows); err != nil {
		for k, n := range taken {
			r.RecordRouteN(k.clientID, k.orgID, k.route, k.outcome, n, time.Unix(k.hour*3600, 0))
		}
		return err
	}
	return nil
}

type bucketKey struct {
	clientID string
	hour     int64 // Unix hour
}

// shard holds the buckets gathered since the last flush, found through
// index. A flush empties both and keeps their memory, so that recording
// in a steady state allocates nothing, however many credentials are used.
//
// ips[i] is the address of the last use of buckets[i] when a call or token
// set it since the bucket's LastUsedIP: an address is written out as text
// once a flush, not on every call.
type shard struct {
	mu      sync.Mutex
	index   map[bucketKey]int
	buckets []store.UsageBucket
	ips     []netip.Addr
}

// bucket returns the index of the shard's bucket of key, adding it if it
// is new. The caller holds sh.mu.
func (sh *shard) bucket(key bucketKey, clientID, orgID string) int {
	i, ok := sh.index[key]
	if !ok {
		i = len(sh.buckets)
		sh.index[key] = i
		sh.buckets = append(sh.buckets, store.UsageBucket{
			ClientID: clientID, OrgID: orgID, Hour: time.Unix(key.hour*3600, 0).UTC()})
		sh.ips = append(sh.ips, netip.Addr{})
	}
	return i
}

// take writes the addresses of the last uses into the buckets and returns
// them, leaving the shard empty. The caller holds sh.mu.
func (sh *shard) take(into []store.UsageBucket) []store.UsageBucket {
	for i, ip := range sh.ips {
		if ip.IsValid() {
			sh.buckets[i].LastUsedIP = ip.String()
		}
	}
	into = append(into, sh.buckets...)
	sh.buckets = emptied(sh.buckets)
	if sh.buckets == nil {
		sh.ips = nil
	} else {
		sh.ips = sh.ips[:0]
	}
	clear(sh.index)
	return into
}

// NewRecorder returns a recorder that writes to s.
func NewRecorder(s Writer) *Recorder {
	r := &Recorder{Store: s, seed: maphash.MakeSeed()}
	for i := range r.shards {
		r.shards[i].index = map[bucketKey]int{}
	}
	return r
}

// SetEnabled turns recording on (the default) or off. Off, Record does
// nothing; the benchmark command measures what recording costs this way.
func (r *Recorder) SetEnabled(on bool) { r.disabled.Store(!on) }

// Record counts one event of a credential at t. Issued tokens and
// authenticated calls also move the last use of the credential in t's hour
// to t and ip (the zero Addr when the address is not known).
func (r *Recorder) Record(clientID, orgID string, ev Event, t time.Time, ip netip.Addr) {
	r.RecordN(clientID, orgID, ev, 1, t, ip)
}

// RecordN counts n events of a credential at t, as Record counts one.
func (r *Recorder) RecordN(clientID, orgID string, ev Event, n int64, t time.Time, ip netip.Addr) {
	if r.disabled.Load() || n <= 0 {
		return
	}
	sh := &r.shards[maphash.String(r.seed, clientID)%shards]
	key := bucketKey{clientID, t.Unix() / 3600}
	sh.mu.Lock()
	i := sh.bucket(key, clientID, orgID)
	b := &sh.buckets[i]
	switch ev {
	case TokenIssued:
		b.TokensIssued += n
	case TokenRefused:
		b.TokensRefused += n
	case APICall:
		b.APICalls += n
	case APIRefused:
		b.APIRefused += n
	}
	if (ev == TokenIssued || ev == APICall) && t.After(b.LastUsedAt) {
		b.LastUsedAt, b.LastUsedIP, sh.ips[i] = t, "", ip
	}
	sh.mu.Unlock()
}

// Flush writes everything gathered since the last flush, counts and last
// uses, in one transaction. On failure it is all kept for the next attempt,
// so nothing is counted twice or lost while the process runs.
func (r *Recorder) Flush(ctx context.Context) error {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	buckets := emptied(r.out)
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		buckets = sh.take(buckets)
		sh.mu.Unlock()
	}
	r.out = buckets
	if err := r.Store.AddUsage(ctx, buckets); err != nil {
		r.restore(buckets)
		return err
	}
	return r.flushRoutes(ctx)
}

// emptied returns b emptied for reuse, or nil when it held less than a
// quarter of its capacity: the memory a burst of credentials took goes
// back once the burst is over.
func emptied(b []store.UsageBucket) []store.UsageBucket {
	if cap(b) > 1024 && len(b) < cap(b)/4 {
		return nil
	}
	return b[:0]
}

// restore puts back what a failed flush took, merged with what was
// recorded since.
func (r *Recorder) restore(buckets []store.UsageBucket) {
	for _, b := range buckets {
		sh := &r.shards[maphash.String(r.seed, b.ClientID)%shards]
		key := bucketKey{b.ClientID, b.Hour.Unix() / 3600}
		sh.mu.Lock()
		i := sh.bucket(key, b.ClientID, b.OrgID)
		if b.LastUsedAt.After(sh.buckets[i].LastUsedAt) {
			sh.ips[i] = netip.Addr{} // the restored bucket's address is the last
		}
		sh.buckets[i].Add(b)
		sh.mu.Unlock()
	}
}
