package client

import "github.com/outpostsync/outpost/internal/clock"

// SetClock makes a client made from cfg read time from c, so that a test
// can drive its reconnect delays and health checks.
func SetClock(cfg *Config, c clock.Clock) { cfg.clock = c }
