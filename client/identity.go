package client

import (
	"fmt"

	"github.com/outpostsync/outpost/protocol"
)

// SetServerID sets the id of the server the caller's store is bound to
// ("" for none). The client then sends it with every request and the
// WebSocket handshake (protocol.HeaderServerID), so that another server
// refuses them before doing anything, and checks it against the hello of
// each WebSocket: a connection to another server fails, for good, with a
// *ServerMismatchError before any event is delivered.
func (c *Client) SetServerID(id string) { c.serverID.Store(&id) }

// ServerID returns the id set by SetServerID, "" if none.
func (c *Client) ServerID() string {
	if p := c.serverID.Load(); p != nil {
		return *p
	}
	return ""
}

// Hello returns the hello of the last connection that came up, nil before
// the first (or when the server sent none).
func (c *Client) Hello() *protocol.Hello { return c.hello.Load() }

// ServerMismatchError says the server is not the one the caller's store is
// bound to (see SetServerID): its hello names another server (Got), or it
// refused a request naming Bound with protocol.CodeServerMismatch (Err is
// then that *protocol.APIError, and Got is ""). It is permanent: nothing
// was read from or done on that server.
type ServerMismatchError struct {
	// Bound is the server the store is bound to; Got the one reached.
	Bound, Got string
	Err        error
}

func (e *ServerMismatchError) Error() string {
	if e.Got == "" {
		return fmt.Sprintf("client: the server is not %q, the one the store is bound to: %v", e.Bound, e.Err)
	}
	return fmt.Sprintf("client: the server is %q, not %q, the one the store is bound to", e.Got, e.Bound)
}

func (e *ServerMismatchError) Unwrap() error { return e.Err }

// checkHello checks the hello of a connection's first frame, if it has one.
func checkHello(h *protocol.Hello) *FrameError {
	if h == nil {
		return nil
	}
	if err := h.Validate(); err != nil {
		return &FrameError{Reason: "bad hello", Err: err}
	}
	return nil
}

// serverMismatch returns a *ServerMismatchError when a valid hello names
// another server than the bound one. A server that says no hello cannot
// be told apart here; the header makes it refuse requests.
func (c *Client) serverMismatch(h *protocol.Hello) error {
	if bound := c.ServerID(); h != nil && bound != "" && h.ServerID != bound {
		return &ServerMismatchError{Bound: bound, Got: h.ServerID}
	}
	return nil
}
