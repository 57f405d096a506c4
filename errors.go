package outpost

import "errors"

// ErrClosed is returned at once by every method of a closed Client (Close
// itself returns the first Close's result).
var ErrClosed = errors.New("outpost: closed")

// check returns ErrClosed once Close has begun.
func (c *Client) check() error {
	if c.closed.Load() {
		return ErrClosed
	}
	return nil
}
