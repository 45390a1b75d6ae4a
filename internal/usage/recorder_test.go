package usage

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"sapient.dev/sapient/internal/store"
)

// memStore keeps what a Recorder writes; fail makes the next write fail.
type memStore struct {
	mu       sync.Mutex
	buckets  map[[2]any]store.UsageBucket
	lastUsed map[string]store.Use
	fail     error
}

func newMem() *memStore {
	return &memStore{buckets: map[[2]any]store.UsageBucket{}, lastUsed: map[string]store.Use{}}
}

func (m *memStore) AddUsage(_ context.Context, bs []store.UsageBucket) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		err := m.fail
		m.fail = nil
		return err
	}
	for _, b := range bs {
		k := [2]any{b.ClientID, b.Hour.Unix()}
		cur := m.buckets[k]
		cur.ClientID, cur.OrgID, cur.Hour = b.ClientID, b.OrgID, b.Hour
		cur.TokensIssued += b.TokensIssued
		cur.TokensRefused += b.TokensRefused
		cur.APICalls += b.APICalls
		cur.APIRefused += b.APIRefused
		m.buckets[k] = cur
	}
	return nil
}

func (m *memStore) TouchCredentials(_ context.Context, lu map[string]store.Use) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, u := range lu {
		if u.At.After(m.lastUsed[id].At) {
			m.lastUsed[id] = u
		}
	}
	return nil
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
				r.Record("c1", "org_1", TokenIssued, at, "192.0.2.1")
				if g%2 == 0 {
					r.Record("c2", "org_2", APIRefused, at, "")
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
	if u := m.lastUsed["c1"]; !u.At.Equal(t0.Add(2*time.Second)) || u.IP != "192.0.2.1" {
		t.Errorf("c1 last used = %+v", u)
	}
	if _, ok := m.lastUsed["c2"]; ok {
		t.Error("a refused call moved last use")
	}
}

// TestFlushFailureKeepsCounts: a failed write loses nothing and counts
// nothing twice.
func TestFlushFailureKeepsCounts(t *testing.T) {
	m := newMem()
	r := NewRecorder(m)
	r.Record("c1", "org_1", TokenIssued, t0, "")
	r.Record("c1", "org_1", TokenRefused, t0, "")
	m.fail = errors.New("database down")
	if err := r.Flush(t.Context()); err == nil {
		t.Fatal("Flush hid the store's error")
	}
	r.Record("c1", "org_1", TokenIssued, t0, "")
	if err := r.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := r.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if issued, refused, _, _ := m.total("c1"); issued != 2 || refused != 1 {
		t.Errorf("after a failed then a good flush: issued %d refused %d, want 2 and 1", issued, refused)
	}
}

func TestDisabled(t *testing.T) {
	m := newMem()
	r := NewRecorder(m)
	r.SetEnabled(false)
	r.Record("c1", "org_1", TokenIssued, t0, "")
	r.Flush(t.Context())
	if len(m.buckets) != 0 {
		t.Error("a disabled recorder recorded")
	}
}

// TestFlushPeriodicLastUsedToTheMinute: the periodic flush writes a
// credential's last use once per LastUsedPrecision, holds the rest back
// (counts are still written every time), writes them once the earlier
// write is that old, and a final Flush writes what it held back.
func TestFlushPeriodicLastUsedToTheMinute(t *testing.T) {
	m := newMem()
	r := NewRecorder(m)
	now := t0
	r.Now = func() time.Time { return now }
	touches := 0
	flush := func(final bool) {
		t.Helper()
		before := m.lastUsed["c1"]
		var err error
		if final {
			err = r.Flush(t.Context())
		} else {
			err = r.FlushPeriodic(t.Context())
		}
		if err != nil {
			t.Fatal(err)
		}
		if m.lastUsed["c1"] != before {
			touches++
		}
	}
	for i := range 59 { // a use a second for 59 seconds
		now = t0.Add(time.Duration(i) * time.Second)
		r.Record("c1", "org_1", TokenIssued, now, "192.0.2.1")
		flush(false)
	}
	if touches != 1 || !m.lastUsed["c1"].At.Equal(t0) {
		t.Fatalf("%d writes of last use, last %v; want one, of the first use", touches, m.lastUsed["c1"].At)
	}
	if issued, _, _, _ := m.total("c1"); issued != 59 {
		t.Fatalf("issued %d, want 59: counts are written every flush", issued)
	}
	now = t0.Add(time.Minute) // no use, but the held-back one is now due
	flush(false)
	if want := t0.Add(58 * time.Second); !m.lastUsed["c1"].At.Equal(want) {
		t.Fatalf("last used %v, want %v", m.lastUsed["c1"].At, want)
	}
	now = now.Add(time.Second)
	r.Record("c1", "org_1", TokenIssued, now, "192.0.2.2")
	flush(false)
	if m.lastUsed["c1"].At.Equal(now) {
		t.Fatal("a use a second after a write was written")
	}
	flush(true)
	if u := m.lastUsed["c1"]; !u.At.Equal(now) || u.IP != "192.0.2.2" {
		t.Fatalf("after the final flush last used = %+v, want %v from 192.0.2.2", u, now)
	}
}
