package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/outpostsync/outpost/internal/closed"
	"github.com/outpostsync/outpost/protocol"
)

// Sentinel errors.
var (
	// ErrClosed is returned by calls on a Client after Close. It is the
	// SDK's one closed error: outpost.ErrClosed is the same value, so
	// errors.Is matches it whichever part of the SDK noticed.
	ErrClosed = closed.Err

	// ErrDisconnected is returned by Connect when Disconnect was called
	// before the connection came up.
	ErrDisconnected = errors.New("client: disconnected")

	// ErrHealthTimeout ends a connection that stayed silent for longer
	// than Config.HealthTimeout. It arrives wrapped in a *TransportError.
	ErrHealthTimeout = errors.New("client: no frame from the server within the health timeout")

	// ErrResponseTooLarge is wrapped by a *DecodeError when a response body
	// is over Config.MaxResponseBytes.
	ErrResponseTooLarge = errors.New("client: response body too large")
)

// ConfigError is returned by New for a Config it cannot use.
type ConfigError struct {
	Field  string
	Reason string
}

func (e *ConfigError) Error() string { return "client: config: " + e.Field + " " + e.Reason }

// TransportError is a failure to reach the server or to finish an exchange
// with it: a refused or reset connection, a timeout, a connection that died
// or went silent. Its Op says which exchange ("send message", "connect",
// "read", "health check", ...). Transport errors are temporary: the same
// call may succeed once the network is back.
type TransportError struct {
	Op  string
	Err error
}

func (e *TransportError) Error() string { return "client: " + e.Op + ": " + e.Err.Error() }

func (e *TransportError) Unwrap() error { return e.Err }

// DecodeError is a response the client could not understand: a body that
// is not the JSON the call expects, an error status whose body is not an
// API error, or a body over the size limit. StatusCode is the HTTP status
// (zero for a WebSocket frame). Err is usually a *protocol.DecodeError.
type DecodeError struct {
	Op         string
	StatusCode int
	Err        error
}

func (e *DecodeError) Error() string {
	if e.StatusCode != 0 {
		return fmt.Sprintf("client: %s: undecodable response (status %d): %v", e.Op, e.StatusCode, e.Err)
	}
	return fmt.Sprintf("client: %s: undecodable response: %v", e.Op, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// temporary reports whether the request may succeed if repeated: yes for a
// garbled success or a status that is temporary in itself (408, 429, 5xx).
func (e *DecodeError) temporary() bool {
	s := e.StatusCode
	return s < 400 || s == http.StatusRequestTimeout || s == http.StatusTooManyRequests || s >= 500
}

// FrameError is a WebSocket message from the server that breaks the
// protocol: not JSON, not an event, binary, over Config.MaxFrameBytes, or a
// first frame that is not health.check. The client logs it, reports it with
// an ErrorEvent, drops the connection and reconnects, so that a sync after
// the reconnect fills in whatever the bad frame should have carried.
type FrameError struct {
	ConnectionID string // empty before the first health.check
	Reason       string
	Err          error // may be nil
}

func (e *FrameError) Error() string {
	msg := "client: bad frame from server: " + e.Reason
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *FrameError) Unwrap() error { return e.Err }

// UserMismatchError says the server's first frame names another user
// than Config.UserID: the token is someone else's. It is permanent: the
// client stops before it reads or writes anything.
type UserMismatchError struct {
	// Want is Config.UserID; Got the user the server says the token names.
	Want, Got string
}

func (e *UserMismatchError) Error() string {
	return fmt.Sprintf("client: the token names user %q, not %q", e.Got, e.Want)
}

// TokenError is a failure of Config.TokenProvider.
type TokenError struct {
	Err error
}

func (e *TokenError) Error() string { return "client: token provider: " + e.Err.Error() }

func (e *TokenError) Unwrap() error { return e.Err }

// IsTemporary reports whether err is a failure that may go away if the same
// call is made again later: a network failure or timeout (*TransportError,
// context.DeadlineExceeded), a bad frame on the WebSocket (*FrameError), a request timeout (408, code 23), a rate limit
// (429, code 9) or a server error (5xx), or a garbled success response. A
// cancelled context is neither temporary nor permanent.
func IsTemporary(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, ErrClosed) {
		return false
	}
	if e, ok := protocol.AsAPIError(err); ok {
		return e.Temporary()
	}
	var fe *FrameError
	if errors.As(err, &fe) {
		return true
	}
	var de *DecodeError
	if errors.As(err, &de) {
		return de.temporary()
	}
	var te *TransportError
	if errors.As(err, &te) {
		return true
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// IsPermanent reports whether err is a failure that the same call will meet
// again however often it is made: the server rejected the request as
// invalid (code 4), unauthenticated (5, or 40 once a new token did not
// help), not found (16), not allowed (17), too big (22) or conflicting
// (41), or the sync position is lost (60, 61; see NeedsReset), or the
// server is not the one the store is bound to (63, *ServerMismatchError),
// or the
// client rejected the input before sending it (*protocol.ValidationError).
// Errors that are neither temporary nor permanent (a cancelled context,
// ErrClosed, an unknown error) are for the caller to judge; the SDK's rule
// is to treat them as temporary.
func IsPermanent(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, ErrClosed) {
		return false
	}
	if e, ok := protocol.AsAPIError(err); ok {
		return !e.Temporary()
	}
	var um *UserMismatchError
	var sm *ServerMismatchError
	if errors.As(err, &um) || errors.As(err, &sm) {
		return true
	}
	var fe *FrameError
	if errors.As(err, &fe) {
		return false // a bad frame is the server's fault; a new connection may be fine
	}
	var de *DecodeError
	if errors.As(err, &de) {
		return !de.temporary()
	}
	var ve *protocol.ValidationError
	return errors.As(err, &ve)
}

// HandlerPanicError reports an event handler that panicked; the client
// recovered and went on with the next handler.
type HandlerPanicError struct {
	EventType protocol.EventType // the event it was handling
	Value     any                // what it panicked with
	Stack     []byte             // the stack of the panic
}

func (e *HandlerPanicError) Error() string {
	return fmt.Sprintf("outpost client: handler of %s panicked: %v", e.EventType, e.Value)
}

// NeedsReset reports whether err says the client's sync position cannot be
// served (codes 60 and 61), so its local cache must be reset. No other
// error justifies a reset.
func NeedsReset(err error) bool {
	e, ok := protocol.AsAPIError(err)
	return ok && e.NeedsReset()
}

// RetryAfter returns how long the server asked the client to wait before
// trying again (the Retry-After of a 429 or 503), and whether it asked. The
// client never sleeps on it inside a call; the caller decides.
func RetryAfter(err error) (time.Duration, bool) {
	e, ok := protocol.AsAPIError(err)
	if !ok || e.RetryAfter <= 0 {
		return 0, false
	}
	return e.RetryAfter, true
}
