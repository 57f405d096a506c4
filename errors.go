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
