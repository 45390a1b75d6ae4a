package usage

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"sapient.dev/sapient/internal/store"
)

// memStore keeps what a Recorder writes, as the SQL store does: counts add
// up per credential and hour, and the last use of the hour moves forward
// only. fail makes the next write fail.
type memStore struct {
	mu      sync.Mutex
	buckets map[[2]any]store.UsageBucket
	writes  []int // buckets written by each AddUsage call
	fail    error
	during  func() // called inside the write that fails
	routes  map[store.RouteUsage]int64
}

// AddRouteUsage keeps the calls by hour, credential, route and outcome,
// and fails as AddUsage does.
func (m *memStore) AddRouteUsage(_ context.Context, rows []store.RouteUsage) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	if m.routes == nil {
		m.routes = map[store.RouteUsage]int64{}
	}
	for _, r := range rows {
		n := r.Calls
		r.Calls = 0
		m.routes[r] += n
	}
	return nil
}

func newMem() *memStore {
	return &memStore{buckets: map[[2]any]store.UsageBucket{}}
}

func (m *memStore) AddUsage(_ context.Context, bs []store.UsageBucket) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		err := m.fail
		m.fail = nil
		if m.during != nil {
			m.during()
		}
		return err
	}
	m.writes = append(m.writes, len(bs))
	for _, b := range bs {
		k := [2]any{b.ClientID, b.Hour.Unix()}
		cur := m.buckets[k]
		cur.ClientID, cur.OrgID, cur.Hour = b.ClientID, b.OrgID, b.Hour
		cur.TokensIssued += b.TokensIssued
		cur.TokensRefused += b.TokensRefused
		cur.APICalls += b.APICalls
		cur.APIRefused += b.APIRefused
		if b.LastUsedAt.After(cur.LastUsedAt) {
			cur.LastUsedAt, cur.LastUsedIP = b.LastUsedAt, b.LastUsedIP
		}
		m.buckets[k] = cur
	}
	return nil
}

// lastUse is the credential's latest last use over its buckets, as the
// store reads it.
func (m *memStore) lastUse(clientID string) (at time.Time, ip string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, b := range m.buckets {
		if b.ClientID == clientID && b.LastUsedAt.After(at) {
			at, ip = b.LastUsedAt, b.LastUsedIP
		}
	}
	return at, ip
}

// bucket is what is stored for the credential in the hour of t.
func (m *memStore) bucket(clientID string, t time.Time) store.UsageBucket {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.buckets[[2]any{clientID, t.Truncate(time.Hour).Unix()}]
}

func (m *memStore) total(clientID string) (issued, refused, calls, callsRefused int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, b := range m.buckets {
		if b.ClientID == clientID {
			issued += b.TokensIssued
			refused += b.TokensRefused
			calls += b.APICalls
			callsRefused += b.APIRefused
		}
	}
	return
}

var t0 = time.Date(2026, 11, 25, 12, 59, 59, 0, time.UTC)

// TestRecordConcurrentExact: counts recorded by many goroutines while
// flushes run are all written, exactly once.
func TestRecordConcurrentExact(t *testing.T) {
	m := newMem()
	r := NewRecorder(m)
	var wg sync.WaitGroup
	done, flusherDone := make(chan struct{}), make(chan struct{})
	go func() { // flush concurrently, as the server does
		defer close(flusherDone)
		for {
			select {
			case <-done:
				return
			default:
				r.Flush(t.Context())
			}
		}
	}()
	for g := range 50 {
		wg.Go(func() {
			for i := range 200 {
				at := t0.Add(time.Duration(i%3) * time.Second) // straddles an hour boundary
				r.Record("c1", "org_1", TokenIssued, at, netip.MustParseAddr("192.0.2.1"))
				if g%2 == 0 {
					r.Record("c2", "org_2", APIRefused, at, netip.Addr{})
				}
			}
		})
	}
	wg.Wait()
	close(done)
	<-flusherDone
	if err := r.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if issued, _, _, _ := m.total("c1"); issued != 10_000 {
		t.Errorf("c1 tokens issued = %d, want exactly 10000", issued)
	}
	if _, _, _, refused := m.total("c2"); refused != 5_000 {
		t.Errorf("c2 API refused = %d, want exactly 5000", refused)
	}
	if len(m.buckets) != 4 {
		t.Errorf("%d buckets, want 4 (two credentials, two hours)", len(m.buckets))
	}
	// Each hour's bucket carries the last use within that hour.
	if b := m.bucket("c1", t0); !b.LastUsedAt.Equal(t0) || b.LastUsedIP != "192.0.2.1" {
		t.Errorf("c1 last use in the first hour = %v from %q, want %v", b.LastUsedAt, b.LastUsedIP, t0)
	}
	if b := m.bucket("c1", t0.Add(time.Second)); !b.LastUsedAt.Equal(t0.Add(2*time.Second)) || b.LastUsedIP != "192.0.2.1" {
		t.Errorf("c1 last use in the second hour = %v from %q, want %v", b.LastUsedAt, b.LastUsedIP, t0.Add(2*time.Second))
	}
	if at, _ := m.lastUse("c2"); !at.IsZero() {
		t.Errorf("refused calls set a last use: %v", at)
	}
}

// TestFlushFailureKeepsCounts: a failed write loses nothing, counts
// nothing twice, and keeps the later of the last use it failed to write and
// one recorded while it ran.
func TestFlushFailureKeepsCounts(t *testing.T) {
	m := newMem()
	r := NewRecorder(m)
	r.Record("c1", "org_1", TokenIssued, t0.Add(-10*time.Second), netip.MustParseAddr("192.0.2.1"))
	r.Record("c1", "org_1", TokenRefused, t0, netip.Addr{})
	r.Record("c2", "org_1", APICall, t0.Add(-10*time.Second), netip.MustParseAddr("192.0.2.1"))
	m.fail = errors.New("database down")
	m.during = func() {
		r.Record("c1", "org_1", TokenIssued, t0.Add(-20*time.Second), netip.MustParseAddr("192.0.2.2")) // earlier than the one taken
		r.Record("c2", "org_1", APICall, t0.Add(-5*time.Second), netip.MustParseAddr("192.0.2.3"))      // later
	}
	if err := r.Flush(t.Context()); err == nil {
		t.Fatal("Flush hid the store's error")
	}
	if err := r.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := r.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if issued, refused, _, _ := m.total("c1"); issued != 2 || refused != 1 {
		t.Errorf("after a failed then a good flush: issued %d refused %d, want 2 and 1", issued, refused)
	}
	if _, _, calls, _ := m.total("c2"); calls != 2 {
		t.Errorf("after a failed then a good flush: %d calls, want 2", calls)
	}
	if at, ip := m.lastUse("c1"); !at.Equal(t0.Add(-10*time.Second)) || ip != "192.0.2.1" {
		t.Errorf("c1 last used %v from %q, want the one the failed flush took", at, ip)
	}
	if at, ip := m.lastUse("c2"); !at.Equal(t0.Add(-5*time.Second)) || ip != "192.0.2.3" {
		t.Errorf("c2 last used %v from %q, want the one recorded during the failed flush", at, ip)
	}
}

func TestDisabled(t *testing.T) {
	m := newMem()
	r := NewRecorder(m)
	r.SetEnabled(false)
	r.Record("c1", "org_1", TokenIssued, t0, netip.Addr{})
	r.Flush(t.Context())
	if len(m.buckets) != 0 {
		t.Error("a disabled recorder recorded")
	}
}

// TestFlushWritesLastUseEveryTime: every flush, periodic or final, writes
// the exact last use with the counts, in one row per credential and hour.
func TestFlushWritesLastUseEveryTime(t *testing.T) {
	m := newMem()
	r := NewRecorder(m)
	start := t0.Add(-5 * time.Second) // crosses into the next hour
	for i := range 10 {
		now := start.Add(time.Duration(i) * time.Second)
		ip := fmt.Sprintf("192.0.2.%d", i)
		r.Record("c1", "org_1", TokenIssued, now, netip.MustParseAddr(ip))
		r.Record("c1", "org_1", TokenRefused, now.Add(time.Millisecond), netip.MustParseAddr("198.51.100.1")) // no use
		if err := r.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		if at, got := m.lastUse("c1"); !at.Equal(now) || got != ip {
			t.Fatalf("after flush %d last used %v from %q, want %v from %s", i, at, got, now, ip)
		}
		if w := m.writes[len(m.writes)-1]; w != 1 {
			t.Fatalf("flush %d wrote %d rows, want one", i, w)
		}
	}
	if len(m.writes) != 10 {
		t.Errorf("%d writes for 10 flushes", len(m.writes))
	}
	// The first hour keeps its own last use.
	if b := m.bucket("c1", t0); !b.LastUsedAt.Equal(t0) || b.LastUsedIP != "192.0.2.5" || b.TokensIssued != 6 {
		t.Errorf("first hour's bucket = %+v, want 6 issued, last used %v from 192.0.2.5", b, t0)
	}
	if issued, refused, _, _ := m.total("c1"); issued != 10 || refused != 10 {
		t.Errorf("issued %d refused %d, want 10 and 10", issued, refused)
	}
}

// TestRecorderMemoryFollowsLoad: a flush keeps the memory of its buckets
// for the next one, but not after a burst: once flushes hold far fewer
// buckets than a burst did, what the burst took is let go.
func TestRecorderMemoryFollowsLoad(t *testing.T) {
	r := NewRecorder(newMem())
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	held := func() (n int) {
		for i := range r.shards {
			n += cap(r.shards[i].buckets)
		}
		return n + cap(r.out)
	}
	flush := func(credentials int) {
		t.Helper()
		for i := range credentials {
			r.Record(fmt.Sprintf("c%d", i), "org_1", TokenIssued, now, netip.MustParseAddr("192.0.2.1"))
		}
		if err := r.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	flush(50_000)
	burst := held()
	if burst < 100_000 {
		t.Fatalf("a burst of 50,000 buckets holds room for %d", burst)
	}
	flush(50_000)
	if got := held(); got > burst*3/2 {
		t.Errorf("the same load again grew the memory held from %d to %d buckets", burst, got)
	}
	flush(100)
	flush(100)
	if got := held(); got > 20_000 {
		t.Errorf("after the burst, flushes of 100 buckets still hold room for %d", got)
	}
}

// TestRecordRoute: calls to the operator's API are counted per hour,
// credential, route and outcome, and a failed write keeps them for the
// next.
func TestRecordRoute(t *testing.T) {
	m := newMem()
	r := NewRecorder(m)
	t0 := time.Date(2026, 12, 6, 10, 15, 0, 0, time.UTC)
	r.RecordRoute("c1", "o1", "shipments", "accepted", t0)
	r.RecordRoute("c1", "o1", "shipments", "accepted", t0.Add(time.Minute))
	r.RecordRoute("c1", "o1", "shipments", "insufficient_scope", t0)
	r.RecordRoute("", "", "orders", "no_token", t0.Add(time.Hour))
	m.fail = errors.New("database away")
	if err := r.Flush(t.Context()); err == nil {
		t.Fatal("flush succeeded against a failing store")
	}
	m.fail = nil
	r.RecordRoute("c1", "o1", "shipments", "accepted", t0)
	if err := r.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	hour := t0.Truncate(time.Hour)
	want := map[store.RouteUsage]int64{
		{Hour: hour, ClientID: "c1", OrgID: "o1", Route: "shipments", Outcome: "accepted"}:           3,
		{Hour: hour, ClientID: "c1", OrgID: "o1", Route: "shipments", Outcome: "insufficient_scope"}: 1,
		{Hour: hour.Add(time.Hour), Route: "orders", Outcome: "no_token"}:                            1,
	}
	if len(m.routes) != len(want) {
		t.Errorf("stored %v, want %v", m.routes, want)
	}
	for k, n := range want {
		if m.routes[k] != n {
			t.Errorf("%+v: %d calls, want %d", k, m.routes[k], n)
		}
	}
}
