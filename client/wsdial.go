package client

import (
	"context"
	"net"
	"net/http"
	"sync"
)

// The close handshake of coder/websocket waits up to five seconds for an
// answer, and nothing cuts that wait short but closing the socket under it.
// So WebSocket dials go through a transport of their own (a clone of the
// configured one) whose dialer records each socket it opens in the dial's
// context, and a close that takes too long closes the socket itself. With a
// configured transport that is not an *http.Transport nothing is recorded,
// and a close on a dead network may take those five seconds.

// connRecorderKey is the context key of the *connRecorder of a dial.
type connRecorderKey struct{}

// connRecorder holds the socket a WebSocket dial opened.
type connRecorder struct {
	mu   sync.Mutex // guards the field below
	conn net.Conn
}

func (r *connRecorder) set(c net.Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.conn = c
}

// close closes the recorded socket, if there is one.
func (r *connRecorder) close() {
	r.mu.Lock()
	c := r.conn
	r.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// newWSHTTPClient returns the http.Client for WebSocket dials, made from
// the configured one.
func newWSHTTPClient(hc *http.Client) *http.Client {
	ws := *hc
	tr, ok := hc.Transport.(*http.Transport)
	if hc.Transport == nil {
		tr, ok = http.DefaultTransport.(*http.Transport)
	}
	if !ok {
		return &ws
	}
	t := tr.Clone()
	// Each handshake on a new socket, so that the dialer sees every one
	// (a failed handshake could otherwise leave a socket in the pool).
	t.DisableKeepAlives = true
	dial := t.DialContext
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err == nil {
			if r, ok := ctx.Value(connRecorderKey{}).(*connRecorder); ok {
				r.set(c)
			}
		}
		return c, err
	}
	ws.Transport = t
	return &ws
}
