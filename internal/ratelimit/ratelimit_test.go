package ratelimit

import (
	"math/rand/v2"
	"testing"
	"time"

	"golang.org/x/time/rate"
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

// TestMatchesXTimeRate holds the limiter to golang.org/x/time/rate, whose
// token bucket it replaces with one the garbage collector need not scan:
// over bursts, pauses, a clock that steps back and a change of limit, each
// answer is the same, and each wait the same to the microsecond.
func TestMatchesXTimeRate(t *testing.T) {
	l := New()
	ref := map[string]*rate.Limiter{}
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	steps := []time.Duration{0, 0, time.Millisecond, 7 * time.Millisecond, 100 * time.Millisecond, 333 * time.Millisecond,
		time.Second, -5 * time.Millisecond}
	rng := rand.New(rand.NewPCG(3, 4))
	refused := 0
	for i := range 20000 {
		now = now.Add(steps[rng.IntN(len(steps))])
		key := []string{"a", "b"}[rng.IntN(2)]
		perSec := 5
		if i > 10000 {
			perSec = 20 // a new limit starts a new, full bucket
		}
		r := ref[key]
		if r == nil || r.Burst() != perSec {
			r = rate.NewLimiter(rate.Limit(perSec), perSec)
			ref[key] = r
		}
		ok, wait := l.Allow(key, perSec, now)
		left := r.TokensAt(now)
		wantOK := r.AllowN(now, 1)
		var wantWait time.Duration
		if !wantOK { // what ReserveN would answer, without reserving
			wantWait = time.Duration((1 - left) / float64(perSec) * float64(time.Second))
		}
		if ok != wantOK || (wait-wantWait).Abs() > time.Microsecond {
			t.Fatalf("request %d for %s at %v: got %v/%v, x/time/rate says %v/%v", i, key, now, ok, wait, wantOK, wantWait)
		}
		if !ok {
			refused++
		}
	}
	if refused < 500 {
		t.Fatalf("only %d requests refused: the pattern proves little", refused)
	}
}
