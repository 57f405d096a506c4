package syncmanager

import "github.com/outpostsync/outpost/internal/clock"

// WithClock returns o with c as the manager's clock, so that a test can
// drive its retries and the retention check.
func WithClock(o Options, c clock.Clock) Options {
	o.clock = c
	return o
}

// SetLiveQueueCap bounds the live events m queues to n, so a test can
// overflow the queue without ten thousand events.
func SetLiveQueueCap(m *Manager, n int) {
	m.liveMu.Lock()
	m.liveCap = n
	m.liveMu.Unlock()
}
