package ratelimit

import (
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
