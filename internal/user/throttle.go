package user

import (
	"strings"
	"sync"
	"time"
)

// Throttle slows down password guessing at the login form (OWASP
// Authentication Cheat Sheet, "Login Throttling"). It counts failed logins
// per account (the email as typed, case-insensitive) and per client
// address; once a key has had its free failures, each further attempt must
// wait a delay that doubles with every failure, up to MaxDelay.
//
// The account key is the email typed, whether or not a user has it, so
// unknown emails are throttled exactly like known ones and the answer never
// tells which exist. State is in memory and per instance, so that several
// instances each allow their own budget, unless Shared keeps it in Redis.
type Throttle struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// AccountFree and IPFree are the failures allowed before delays begin:
	// per account 5, per address 20 (many people may share one address).
	AccountFree, IPFree int
	// BaseDelay is the first delay (1 s) and MaxDelay the longest (15 min).
	BaseDelay, MaxDelay time.Duration
	// Forget is how long after its last failure a key starts afresh
	// (24 h).
	Forget time.Duration
	// MaxKeys bounds the memory of each table (100,000 keys).
	MaxKeys int
	// Shared, if set, keeps the counts where every instance sees them
	// (see SharedStrikes); while it cannot answer, they are kept here.
	Shared SharedStrikes

	mu       sync.Mutex
	accounts map[string]*strikes
	ips      map[string]*strikes
}

// strikes are the failures of one key.
type strikes struct {
	n    int
	last time.Time
}

// Throttle defaults.
const (
	DefaultAccountFree = 5
	DefaultIPFree      = 20
	DefaultBaseDelay   = time.Second
	DefaultMaxDelay    = 15 * time.Minute
	DefaultForget      = 24 * time.Hour
	DefaultMaxKeys     = 100_000
)

// NewThrottle returns a Throttle with the default limits on clock now.
func NewThrottle(now func() time.Time) *Throttle {
	return &Throttle{
		Now: now, AccountFree: DefaultAccountFree, IPFree: DefaultIPFree,
		BaseDelay: DefaultBaseDelay, MaxDelay: DefaultMaxDelay, Forget: DefaultForget, MaxKeys: DefaultMaxKeys,
	}
}

// AccountKey is the key under which failures for email are counted.
func AccountKey(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// Attempt reports whether a login for email from ip may be checked now;
// when it may not, wait says for how long. An allowed attempt counts as a
// failure at once, until Succeeded takes it back, so a burst of parallel
// guesses cannot slip past the count.
func (t *Throttle) Attempt(email, ip string) (wait time.Duration, ok bool) {
	if wait, ok, err := t.sharedAttempt(email, ip); err == nil {
		return wait, ok
	}
	now := t.now()
	account := AccountKey(email)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.accounts == nil {
		t.accounts, t.ips = map[string]*strikes{}, map[string]*strikes{}
	}
	a, i := t.accounts[account], t.ips[ip]
	wait = max(t.wait(a, t.AccountFree, now), t.wait(i, t.IPFree, now))
	if wait > 0 {
		return wait, false
	}
	t.strike(t.accounts, account, t.AccountFree, now)
	t.strike(t.ips, ip, t.IPFree, now)
	return 0, true
}

// Succeeded takes back the failure Attempt counted: the account starts
// afresh, and the address loses one failure (not all of them, so that a
// guesser cannot reset its address by logging in to an account of its own).
func (t *Throttle) Succeeded(email, ip string) {
	t.sharedSucceeded(email, ip)
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.accounts, AccountKey(email))
	if i := t.ips[ip]; i != nil {
		if i.n--; i.n <= 0 {
			delete(t.ips, ip)
		}
	}
}

// Failures reports how many failed logins are counted against the
// address ip now; LoginQueue puts the logins of an address with none
// first.
func (t *Throttle) Failures(ip string) int {
	if n, err := t.sharedFailures(ip); err == nil {
		return n
	}
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if s := t.ips[ip]; s != nil && now.Sub(s.last) < t.Forget {
		return s.n
	}
	return 0
}

// Undo takes back the failure Attempt counted for a login that was not
// checked (the login queue was full): neither the account nor the address
// is held to it.
func (t *Throttle) Undo(email, ip string) {
	t.sharedUndo(email, ip)
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range []struct {
		table map[string]*strikes
		key   string
	}{{t.accounts, AccountKey(email)}, {t.ips, ip}} {
		if s := k.table[k.key]; s != nil {
			if s.n--; s.n <= 0 {
				delete(k.table, k.key)
			}
		}
	}
}

// wait is how long s must still wait at now.
func (t *Throttle) wait(s *strikes, free int, now time.Time) time.Duration {
	if s == nil || now.Sub(s.last) >= t.Forget || s.n < free {
		return 0
	}
	return max(s.last.Add(t.delay(s.n-free)).Sub(now), 0)
}

// delay is the wait after free+extra failures: BaseDelay doubled extra
// times, at most MaxDelay.
func (t *Throttle) delay(extra int) time.Duration {
	d := t.BaseDelay
	for range extra {
		if d >= t.MaxDelay/2 {
			return t.MaxDelay
		}
		d *= 2
	}
	return min(d, t.MaxDelay)
}

// strike counts one failure of key at now.
func (t *Throttle) strike(table map[string]*strikes, key string, free int, now time.Time) {
	s := table[key]
	if s == nil || now.Sub(s.last) >= t.Forget {
		if s == nil && len(table) >= t.MaxKeys {
			t.prune(table, free, now)
		}
		s = &strikes{}
		table[key] = s
	}
	s.n++
	s.last = now
}

// prune makes room in a full table, down to nine tenths of MaxKeys so that
// its cost is shared by many inserts: it forgets keys with no delay in
// force first, and then, under a flood of distinct keys, any keys.
func (t *Throttle) prune(table map[string]*strikes, free int, now time.Time) {
	target := t.MaxKeys * 9 / 10
	for k, s := range table {
		if t.wait(s, free, now) == 0 {
			delete(table, k)
		}
	}
	for k := range table { // map order is random: no key is favoured
		if len(table) <= target {
			break
		}
		delete(table, k)
	}
}

func (t *Throttle) now() time.Time {
	if t.Now == nil {
		return time.Now()
	}
	return t.Now()
}
