package user

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"sapient.dev/sapient/internal/ratelimit"
)

// SharedStrikes keeps a Throttle's failure counts where every instance
// sees them, so that a guesser spread over several instances gets one
// budget, not one per instance. When it cannot answer (an error), the
// Throttle counts on its own, per instance.
type SharedStrikes interface {
	// Attempt does what Throttle.Attempt does for the account key and the
	// address, with the Throttle's limits, atomically.
	Attempt(account, ip string, limits ThrottleLimits) (wait time.Duration, ok bool, err error)
	// Succeeded does what Throttle.Succeeded does.
	Succeeded(account, ip string) error
	// Undo does what Throttle.Undo does.
	Undo(account, ip string) error
	// Failures does what Throttle.Failures does.
	Failures(ip string) (int, error)
}

// ThrottleLimits are a Throttle's settings, as SharedStrikes needs them.
type ThrottleLimits struct {
	AccountFree, IPFree         int
	BaseDelay, MaxDelay, Forget time.Duration
}

// errNoShared means the Throttle has no SharedStrikes.
var errNoShared = errors.New("user: no shared throttle")

// sharedAttempt asks t.Shared, if set.
func (t *Throttle) sharedAttempt(email, ip string) (time.Duration, bool, error) {
	if t.Shared == nil {
		return 0, false, errNoShared
	}
	return t.Shared.Attempt(AccountKey(email), ip, ThrottleLimits{
		AccountFree: t.AccountFree, IPFree: t.IPFree, BaseDelay: t.BaseDelay, MaxDelay: t.MaxDelay, Forget: t.Forget,
	})
}

// sharedSucceeded tells t.Shared, if set.
func (t *Throttle) sharedSucceeded(email, ip string) {
	if t.Shared != nil {
		t.Shared.Succeeded(AccountKey(email), ip) // when it fails, Redis forgets the failures in Forget
	}
}

// sharedUndo tells t.Shared, if set.
func (t *Throttle) sharedUndo(email, ip string) {
	if t.Shared != nil {
		t.Shared.Undo(AccountKey(email), ip) // when it fails, Redis forgets the failure in Forget
	}
}

// sharedFailures asks t.Shared, if set.
func (t *Throttle) sharedFailures(ip string) (int, error) {
	if t.Shared == nil {
		return 0, errNoShared
	}
	return t.Shared.Failures(ip)
}

// RedisStrikes keeps the failure counts in Redis: one hash (n, last) per
// account and per address, expiring Forget after its last failure, read
// and written by one Lua script on Redis's clock. The account key is a
// digest of the email, so that Redis holds no email address.
//
// The throttle is not a rate (its delays double with each failure), so it
// is not a GCRA limiter like the rate limits; its script does, in Redis,
// what Throttle does in memory.
type RedisStrikes struct {
	Redis *ratelimit.Redis
}

// attemptScript checks and counts one attempt. KEYS: the account's and the
// address's hashes. ARGV: account free failures, address free failures,
// base delay, maximum delay and forget time, in milliseconds. It returns
// the wait in milliseconds, 0 when the attempt may go ahead (and was
// counted).
var attemptScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local base, maxd, forget = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local function wait(key, free)
  local v = redis.call('HMGET', key, 'n', 'last')
  local n, last = tonumber(v[1]), tonumber(v[2])
  if not n or not last or n < free then return 0 end
  local d = base
  for _ = 1, n - free do
    if d >= maxd / 2 then d = maxd break end
    d = d * 2
  end
  if d > maxd then d = maxd end
  return math.max(last + d - now, 0)
end
local w = math.max(wait(KEYS[1], tonumber(ARGV[1])), wait(KEYS[2], tonumber(ARGV[2])))
if w > 0 then return w end
for _, key in ipairs(KEYS) do
  redis.call('HINCRBY', key, 'n', 1)
  redis.call('HSET', key, 'last', now)
  redis.call('PEXPIRE', key, forget)
end
return 0
`)

// succeededScript takes back the attempt's failure: the account starts
// afresh, the address loses one failure.
var succeededScript = redis.NewScript(`
redis.call('DEL', KEYS[1])
if redis.call('EXISTS', KEYS[2]) == 1 and redis.call('HINCRBY', KEYS[2], 'n', -1) <= 0 then
  redis.call('DEL', KEYS[2])
end
return 0
`)

// undoScript takes back the attempt's failure from both keys.
var undoScript = redis.NewScript(`
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 and redis.call('HINCRBY', key, 'n', -1) <= 0 then
    redis.call('DEL', key)
  end
end
return 0
`)

func (r *RedisStrikes) keys(account, ip string) []string {
	sum := sha256.Sum256([]byte(account))
	return []string{r.Redis.Key("login", "account", hex.EncodeToString(sum[:16])), r.Redis.Key("login", "ip", ip)}
}

// Attempt implements SharedStrikes.
func (r *RedisStrikes) Attempt(account, ip string, l ThrottleLimits) (time.Duration, bool, error) {
	var waitMs int64
	err := r.Redis.Call(func(ctx context.Context, c *redis.Client) (err error) {
		waitMs, err = attemptScript.Run(ctx, c, r.keys(account, ip),
			l.AccountFree, l.IPFree, l.BaseDelay.Milliseconds(), l.MaxDelay.Milliseconds(), l.Forget.Milliseconds()).Int64()
		return err
	})
	if err != nil {
		return 0, false, err
	}
	if waitMs > 0 {
		return time.Duration(waitMs) * time.Millisecond, false, nil
	}
	return 0, true, nil
}

// Succeeded implements SharedStrikes.
func (r *RedisStrikes) Succeeded(account, ip string) error {
	return r.Redis.Call(func(ctx context.Context, c *redis.Client) error {
		return succeededScript.Run(ctx, c, r.keys(account, ip)).Err()
	})
}

// Undo implements SharedStrikes.
func (r *RedisStrikes) Undo(account, ip string) error {
	return r.Redis.Call(func(ctx context.Context, c *redis.Client) error {
		return undoScript.Run(ctx, c, r.keys(account, ip)).Err()
	})
}

// Failures implements SharedStrikes.
func (r *RedisStrikes) Failures(ip string) (int, error) {
	n := 0
	err := r.Redis.Call(func(ctx context.Context, c *redis.Client) (err error) {
		n, err = c.HGet(ctx, r.keys("", ip)[1], "n").Int()
		if errors.Is(err, redis.Nil) {
			n, err = 0, nil
		}
		return err
	})
	return n, err
}
