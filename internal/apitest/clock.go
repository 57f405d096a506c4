package apitest

import (
	"sync"
	"time"
)

// Clock is a server's clock for tests (its Now goes in server.Config.Now
// and the store's): the real time until Set, then the time set. Safe for
// concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time // zero: the real time
}

// Now returns the time set, or the real time when none is.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.t.IsZero() {
		return time.Now()
	}
	return c.t
}

// Set makes t the time from now on; the zero time goes back to the real
// time.
func (c *Clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }
