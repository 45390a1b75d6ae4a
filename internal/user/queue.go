package user

import (
	"context"
	"errors"
	"runtime"
	"sync"
)

// ErrBusy is returned by LoginQueue.Enter when the queue is full: the
// login should be answered at once, asking to retry shortly.
var ErrBusy = errors.New("user: too many logins waiting for a password check")

// LoginQueue bounds the password checks run at once (each argon2id
// computation holds DefaultPasswordParams.MemoryKiB of memory) and the
// logins waiting for one, so that a flood of logins is answered at once
// instead of waiting, unanswered, until its connection times out, and the
// memory it can hold is bounded: Checks computations and Waiting + Suspect
// parked requests, each with a login form of at most a few KiB.
//
// Waiting logins stand in two lines. A login from an address with no
// failed login counted against it (see Throttle.Failures) and none other
// in the queue stands in the first line, served first; every other in the
// second. A flood of wrong passwords soon fills the second line, but each
// of its addresses can stand in the first only until its first failure
// (for Throttle.Forget, a day), so a person at an address of their own,
// such as the Admin, still logs in during the flood.
type LoginQueue struct {
	// Checks is the number of password checks run at once, Waiting the
	// length of the first line and Suspect of the second.
	Checks, Waiting, Suspect int

	mu      sync.Mutex
	running int
	lines   [2][]*ticket
	ips     map[string]int // addresses with a login in the queue or running
}

// ticket is one login waiting in line; ready is closed when it may run.
type ticket struct {
	ip    string
	ready chan struct{}
}

// Default LoginQueue lines: short, since a check with the default
// parameters takes a few hundred milliseconds on a busy two-core machine,
// and every place in line adds that much to the wait of those behind.
const (
	DefaultLoginWaiting = 4
	DefaultLoginSuspect = 8
)

// NewLoginQueue returns a LoginQueue with the default lines and one check
// at a time for every four processors: a check with
// DefaultPasswordParams keeps four lanes busy, so more at once would not
// end sooner, only hold more memory (64 MiB each).
func NewLoginQueue() *LoginQueue {
	checks := max(1, runtime.GOMAXPROCS(0)/int(DefaultPasswordParams.Threads))
	return &LoginQueue{Checks: checks, Waiting: DefaultLoginWaiting, Suspect: DefaultLoginSuspect}
}

// Enter waits until a login from ip may check its password and returns
// the function that ends the check. clean tells whether ip had no failed
// login counted against it before this one. When the login's line is full
// Enter returns ErrBusy at once; when ctx ends first, ctx's error.
func (q *LoginQueue) Enter(ctx context.Context, ip string, clean bool) (done func(), err error) {
	q.mu.Lock()
	if q.ips == nil {
		q.ips = map[string]int{}
	}
	if q.running < max(q.Checks, 1) && len(q.lines[0]) == 0 && len(q.lines[1]) == 0 {
		q.running++
		q.ips[ip]++
		q.mu.Unlock()
		return q.doneFunc(ip), nil
	}
	line, capacity := 1, q.Suspect
	if clean && q.ips[ip] == 0 {
		line, capacity = 0, q.Waiting
	}
	if len(q.lines[line]) >= capacity {
		q.mu.Unlock()
		return nil, ErrBusy
	}
	t := &ticket{ip: ip, ready: make(chan struct{})}
	q.lines[line] = append(q.lines[line], t)
	q.ips[ip]++
	q.mu.Unlock()

	select {
	case <-t.ready:
		return q.doneFunc(ip), nil
	case <-ctx.Done():
	}
	q.mu.Lock()
	for i, w := range q.lines[line] {
		if w == t { // still waiting: leave the line
			q.lines[line] = append(q.lines[line][:i], q.lines[line][i+1:]...)
			q.leave(ip)
			q.mu.Unlock()
			return nil, ctx.Err()
		}
	}
	q.mu.Unlock()
	q.doneFunc(ip)() // its turn came as ctx ended: pass it on
	return nil, ctx.Err()
}

// doneFunc returns the function that ends a check of a login from ip: the
// first in line, the first line first, runs next.
func (q *LoginQueue) doneFunc(ip string) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			q.mu.Lock()
			defer q.mu.Unlock()
			q.leave(ip)
			for i := range q.lines {
				if len(q.lines[i]) > 0 {
					next := q.lines[i][0]
					q.lines[i][0] = nil
					q.lines[i] = q.lines[i][1:]
					close(next.ready) // the check passes on: running stays
					return
				}
			}
			q.running--
		})
	}
}

// leave forgets one login from ip.
func (q *LoginQueue) leave(ip string) {
	if q.ips[ip]--; q.ips[ip] <= 0 {
		delete(q.ips, ip)
	}
}

// Len reports the logins running and waiting.
func (q *LoginQueue) Len() (running, waiting, suspect int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.running, len(q.lines[0]), len(q.lines[1])
}
