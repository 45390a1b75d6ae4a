package user

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestLoginQueue checks the lines of the queue: a full line answers
// ErrBusy at once, the first line runs before the second, a second login
// from an address already in the queue stands in the second line, and a
// login whose request ends leaves its place.
func TestLoginQueue(t *testing.T) {
	q := &LoginQueue{Checks: 1, Waiting: 1, Suspect: 1}
	ctx := t.Context()
	done, err := q.Enter(ctx, "192.0.2.1", true)
	if err != nil {
		t.Fatal(err)
	}
	order := make(chan string, 4)
	enter := func(ip string, clean bool) chan error {
		errc := make(chan error, 1)
		go func() {
			d, err := q.Enter(ctx, ip, clean)
			if err == nil {
				order <- ip
				d()
			}
			errc <- err
		}()
		return errc
	}
	waitLen := func(running, waiting, suspect int) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if r, w, s := q.Len(); r == running && w == waiting && s == suspect {
				return
			}
		}
		r, w, s := q.Len()
		t.Fatalf("queue %d, %d, %d; want %d, %d, %d", r, w, s, running, waiting, suspect)
	}
	// A second login from 192.0.2.1 stands in the second line although
	// its address is clean.
	suspect := enter("192.0.2.1", true)
	waitLen(1, 0, 1)
	if _, err := q.Enter(ctx, "192.0.2.2", false); !errors.Is(err, ErrBusy) {
		t.Fatalf("second line full: %v, want ErrBusy", err)
	}
	clean := enter("192.0.2.3", true)
	waitLen(1, 1, 1)
	if _, err := q.Enter(ctx, "192.0.2.4", true); !errors.Is(err, ErrBusy) {
		t.Fatalf("first line full: %v, want ErrBusy", err)
	}
	done()
	done() // twice is harmless
	for _, errc := range []chan error{clean, suspect} {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	if first, second := <-order, <-order; first != "192.0.2.3" || second != "192.0.2.1" {
		t.Fatalf("ran %s then %s; want the first line first", first, second)
	}
	waitLen(0, 0, 0)

	// A login that gives up leaves the line.
	done, _ = q.Enter(ctx, "192.0.2.1", true)
	gone, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { _, err := q.Enter(gone, "192.0.2.5", true); errc <- err }()
	waitLen(1, 1, 0)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled login: %v", err)
	}
	waitLen(1, 0, 0)
	done()
	waitLen(0, 0, 0)
	if len(q.ips) != 0 {
		t.Fatalf("addresses left behind: %v", q.ips)
	}
}

// TestThrottleUndo checks that a login the queue refused counts for
// nothing, and that Failures reads the address's count.
func TestThrottleUndo(t *testing.T) {
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	th := NewThrottle(func() time.Time { return now })
	if n := th.Failures("192.0.2.1"); n != 0 {
		t.Fatalf("fresh address has %d failures", n)
	}
	th.Attempt("a@example.test", "192.0.2.1")
	th.Attempt("b@example.test", "192.0.2.1")
	if n := th.Failures("192.0.2.1"); n != 2 {
		t.Fatalf("Failures = %d, want 2", n)
	}
	th.Undo("b@example.test", "192.0.2.1")
	if n := th.Failures("192.0.2.1"); n != 1 {
		t.Fatalf("after Undo, Failures = %d, want 1", n)
	}
	if _, ok := th.accounts[AccountKey("b@example.test")]; ok {
		t.Fatal("the account of an undone attempt keeps a failure")
	}
	now = now.Add(DefaultForget)
	if n := th.Failures("192.0.2.1"); n != 0 {
		t.Fatalf("after Forget, Failures = %d, want 0", n)
	}
}
