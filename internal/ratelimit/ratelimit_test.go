package ratelimit

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestAllow(t *testing.T) {
	l := New()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for i := range 5 {
		if ok, _ := l.Allow("a", 5, now); !ok {
			t.Fatalf("request %d within the burst was refused", i+1)
		}
	}
	ok, wait := l.Allow("a", 5, now)
	if ok || wait <= 0 || wait > 200*time.Millisecond {
		t.Fatalf("6th request at once: ok=%v wait=%v; want refused with a wait of at most 200ms", ok, wait)
	}
	if RetryAfter(wait) != 1 {
		t.Errorf("RetryAfter(%v) = %d, want 1", wait, RetryAfter(wait))
	}
	if ok, _ := l.Allow("b", 5, now); !ok {
		t.Error("another key shares the bucket")
	}
	if ok, _ := l.Allow("a", 5, now.Add(250*time.Millisecond)); !ok {
		t.Error("a refilled token was refused")
	}
	if ok, _ := l.Allow("a", 0, now); !ok {
		t.Error("a zero limit must mean unlimited")
	}
	l.Prune(now.Add(time.Second))
	for i := range 5 {
		if ok, _ := l.Allow("a", 5, now.Add(time.Second)); !ok {
			t.Fatalf("after prune, request %d was refused: the bucket was not forgotten", i+1)
		}
	}
	if RetryAfter(1500*time.Millisecond) != 2 {
		t.Error("RetryAfter must round up")
	}
}

// TestPruneAfterFullChangesNothing: a limiter pruned of every bucket
// unused for FullAfter, before every request, answers exactly as one never
// pruned, whatever the pattern of bursts and pauses.
func TestPruneAfterFullChangesNothing(t *testing.T) {
	pruned, kept := New(), New()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	pauses := []time.Duration{0, time.Millisecond, 100 * time.Millisecond, 999 * time.Millisecond,
		time.Second, time.Second + time.Millisecond, 1500 * time.Millisecond, 3 * time.Second}
	rng := rand.New(rand.NewPCG(1, 2))
	refused := 0
	for i := range 5000 {
		if rng.IntN(4) == 0 { // mostly bursts, now and then a pause
			now = now.Add(pauses[rng.IntN(len(pauses))])
		}
		key := []string{"a", "b", "c"}[rng.IntN(3)]
		pruned.Prune(now.Add(-FullAfter))
		ok1, wait1 := pruned.Allow(key, 4, now)
		ok2, wait2 := kept.Allow(key, 4, now)
		if ok1 != ok2 || wait1 != wait2 {
			t.Fatalf("request %d for %s at %v: pruned says %v/%v, kept says %v/%v", i, key, now, ok1, wait1, ok2, wait2)
		}
		if !ok1 {
			refused++
		}
	}
	if refused == 0 {
		t.Fatal("no request was refused: the pattern never drains a bucket and proves nothing")
	}
}
