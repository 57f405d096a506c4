package engine

import (
	"context"

	"github.com/outpostsync/outpost/internal/clock"
)

// NewWithClock is New with c as the manager's clock, so that a test can
// drive its retries and the retention check.
func NewWithClock(ctx context.Context, conn Conn, store Store, opts Options, ls Listeners, c clock.Clock) (*Manager, error) {
	return newWithClock(ctx, conn, store, opts, ls, c)
}

// SetLiveQueueCap bounds the live events m queues to n, so a test can
// overflow the queue without ten thousand events.
func SetLiveQueueCap(m *Manager, n int) {
	m.liveMu.Lock()
	m.liveCap = n
	m.liveMu.Unlock()
}
