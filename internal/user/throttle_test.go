package user

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a settable clock.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time          { return c.now }
func (c *fakeClock) Advance(d time.Duration) { c.now = c.now.Add(d) }

func newTestThrottle() (*Throttle, *fakeClock) {
	clk := &fakeClock{now: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)}
	return NewThrottle(clk.Now), clk
}

// fail makes n attempts that fail, each allowed.
func fail(t *testing.T, th *Throttle, email, ip string, n int) {
	t.Helper()
	for i := range n {
		if wait, ok := th.Attempt(email, ip); !ok {
			t.Fatalf("attempt %d refused, wait %v", i+1, wait)
		}
	}
}

func TestThrottleDelaysGrowPerAccount(t *testing.T) {
	th, clk := newTestThrottle()
	fail(t, th, "alice@acme.test", "192.0.2.1", DefaultAccountFree)
	// After the free failures each attempt waits twice as long as the one
	// before, from 1 s up to 15 minutes.
	want := time.Second
	for i := range 14 {
		// Another address and another spelling of the email: the account
		// is what counts.
		wait, ok := th.Attempt("ALICE@acme.test ", fmt.Sprintf("198.51.100.%d", i))
		if ok || wait != want {
			t.Fatalf("failure %d: wait %v (ok %v), want %v", DefaultAccountFree+i, wait, ok, want)
		}
		clk.Advance(wait - time.Millisecond)
		if _, ok := th.Attempt("alice@acme.test", "192.0.2.1"); ok {
			t.Fatalf("allowed %v before the delay ended", time.Millisecond)
		}
		clk.Advance(time.Millisecond)
		if _, ok := th.Attempt("alice@acme.test", "192.0.2.1"); !ok {
			t.Fatalf("refused once the delay of %v ended", want)
		}
		want = min(want*2, DefaultMaxDelay)
	}
	if want != DefaultMaxDelay {
		t.Fatalf("the delay never reached the maximum: %v", want)
	}
	// Other accounts are not slowed down.
	if _, ok := th.Attempt("bob@acme.test", "203.0.113.9"); !ok {
		t.Error("another account was refused")
	}
}

func TestThrottleUnknownAndKnownEmailsAlike(t *testing.T) {
	// The throttle never looks an email up: any two emails with the same
	// history get the same answer.
	th, _ := newTestThrottle()
	for _, email := range []string{"alice@acme.test", "nobody@acme.test"} {
		fail(t, th, email, "192.0.2."+email[:1], DefaultAccountFree)
	}
	w1, ok1 := th.Attempt("alice@acme.test", "192.0.2.50")
	w2, ok2 := th.Attempt("nobody@acme.test", "192.0.2.51")
	if ok1 || ok2 || w1 != w2 {
		t.Errorf("known: %v %v; unknown: %v %v; want the same refusal", w1, ok1, w2, ok2)
	}
}

func TestThrottlePerAddress(t *testing.T) {
	th, clk := newTestThrottle()
	// One address trying many accounts, each only once.
	for i := range DefaultIPFree {
		if _, ok := th.Attempt(fmt.Sprintf("user%d@acme.test", i), "192.0.2.7"); !ok {
			t.Fatalf("attempt %d refused", i+1)
		}
	}
	wait, ok := th.Attempt("fresh@acme.test", "192.0.2.7")
	if ok || wait != time.Second {
		t.Fatalf("after %d failures from one address: wait %v ok %v, want 1s", DefaultIPFree, wait, ok)
	}
	if _, ok := th.Attempt("fresh@acme.test", "192.0.2.8"); !ok {
		t.Error("another address was refused")
	}
	clk.Advance(time.Second)
	if _, ok := th.Attempt("fresh2@acme.test", "192.0.2.7"); !ok {
		t.Error("refused after the delay")
	}
}

func TestThrottleSuccess(t *testing.T) {
	th, _ := newTestThrottle()
	fail(t, th, "alice@acme.test", "192.0.2.1", DefaultAccountFree-1)
	// The last free attempt succeeds: the account starts afresh.
	if _, ok := th.Attempt("alice@acme.test", "192.0.2.1"); !ok {
		t.Fatal("refused")
	}
	th.Succeeded("alice@acme.test", "192.0.2.1")
	fail(t, th, "alice@acme.test", "192.0.2.1", DefaultAccountFree)
	if _, ok := th.Attempt("alice@acme.test", "192.0.2.1"); ok {
		t.Error("not throttled after the free failures that followed a success")
	}

	// A success takes back one failure of the address, not all of them.
	th, _ = newTestThrottle()
	for i := range DefaultIPFree - 1 {
		fail(t, th, fmt.Sprintf("victim%d@acme.test", i), "192.0.2.9", 1)
	}
	fail(t, th, "mine@acme.test", "192.0.2.9", 1)
	th.Succeeded("mine@acme.test", "192.0.2.9")
	fail(t, th, "victim-next@acme.test", "192.0.2.9", 1)
	if _, ok := th.Attempt("victim-last@acme.test", "192.0.2.9"); ok {
		t.Error("logging in to its own account reset the address")
	}
}

func TestThrottleForgets(t *testing.T) {
	th, clk := newTestThrottle()
	fail(t, th, "alice@acme.test", "192.0.2.1", DefaultAccountFree)
	clk.Advance(time.Second)
	fail(t, th, "alice@acme.test", "192.0.2.1", 1)
	clk.Advance(DefaultForget)
	fail(t, th, "alice@acme.test", "192.0.2.1", DefaultAccountFree)
	if wait, ok := th.Attempt("alice@acme.test", "192.0.2.1"); ok || wait != time.Second {
		t.Errorf("after forgetting: wait %v ok %v, want the first delay again", wait, ok)
	}
}

func TestThrottleParallelGuessesCounted(t *testing.T) {
	th, _ := newTestThrottle()
	var allowed atomic.Int32
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			if _, ok := th.Attempt("alice@acme.test", "192.0.2.1"); ok {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	if n := allowed.Load(); n != DefaultAccountFree {
		t.Errorf("%d of 100 parallel guesses allowed, want %d", n, DefaultAccountFree)
	}
}

func TestThrottleMemoryBounded(t *testing.T) {
	th, _ := newTestThrottle()
	th.MaxKeys = 1000
	fail(t, th, "target@acme.test", "192.0.2.1", DefaultAccountFree)
	for i := range 10 * th.MaxKeys {
		th.Attempt(fmt.Sprintf("spray%d@acme.test", i), fmt.Sprintf("10.0.%d.%d", i/256, i%256))
	}
	if n, m := len(th.accounts), len(th.ips); n > th.MaxKeys || m > th.MaxKeys {
		t.Errorf("tables hold %d and %d keys, want at most %d", n, m, th.MaxKeys)
	}
	if _, ok := th.Attempt("target@acme.test", "192.0.2.2"); ok {
		t.Error("a flood of other keys released an account that is being slowed down")
	}
}
