package servertest

import (
	"sync"
	"time"

	"sapient.dev/sapient/internal/server"
)

// Clock is a settable time source shared by a test and its server. It
// stands still unless the test moves it, so rate limits and expiry do not
// depend on how fast the machine is.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock standing at the current second.
func NewClock() *Clock { return &Clock{t: time.Now().UTC().Truncate(time.Second)} }

// Now reads the clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// WithClock makes the server read time from c.
func WithClock(c *Clock) Option {
	return func(cfg *server.Config) { cfg.Now = c.Now }
}
