package client

import (
	"time"

	"github.com/cenkalti/backoff/v4"
)

// reconnectBackoff is the one place reconnect delays come from: jittered
// exponential (each delay doubles, then is spread by ±50%), starting at
// Config.MinReconnectDelay, never over Config.MaxReconnectDelay, back to
// the start after a connection that came up.
type reconnectBackoff struct {
	b   *backoff.ExponentialBackOff
	max time.Duration
}

func newReconnectBackoff(cfg Config) *reconnectBackoff {
	b := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(cfg.MinReconnectDelay),
		backoff.WithMaxInterval(cfg.MaxReconnectDelay),
		backoff.WithMultiplier(2),
		backoff.WithRandomizationFactor(0.5),
		backoff.WithMaxElapsedTime(0), // never give up on temporary failures
		backoff.WithClockProvider(cfg.clock),
	)
	return &reconnectBackoff{b: b, max: cfg.MaxReconnectDelay}
}

// next returns the delay before the next attempt.
func (r *reconnectBackoff) next() time.Duration {
	d := r.b.NextBackOff()
	if d == backoff.Stop || d > r.max {
		d = r.max // jitter may overshoot the cap; the cap wins
	}
	return d
}

// reset starts the delays again from the minimum.
func (r *reconnectBackoff) reset() { r.b.Reset() }
