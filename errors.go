package outpost

import "github.com/outpostsync/outpost/internal/closed"

// ErrClosed is returned at once by every method of a closed Client (Close
// itself returns the first Close's result).
var ErrClosed = closed.Err

// check returns ErrClosed once Close has begun.
func (c *Client) check() error {
	if c.closed.Load() {
		return ErrClosed
	}
	return nil
}

// ConfigError is returned by Open for a Config that lacks a required field
// (or holds a bad value in it). Field names it.
type ConfigError struct {
	Field  string
	Reason string // what is wrong; empty means "required"
}

func (e *ConfigError) Error() string {
	reason := e.Reason
	if reason == "" {
		reason = "required"
	}
	return "outpost: Config." + e.Field + ": " + reason
}
