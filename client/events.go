package client

import (
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/outpostsync/outpost/internal/dispatch"
	"github.com/outpostsync/outpost/protocol"
)

// Events the client makes itself, delivered to handlers like the server's;
// they never cross the wire.
const (
	// EventConnectionChanged says the connection came up (Online set:
	// the server's first health.check arrived) or went down. Exactly one
	// per real change, never two with the same Online in a row.
	EventConnectionChanged protocol.EventType = "connection.changed"
	// EventConnectionRecovered follows the EventConnectionChanged{Online}
	// of every connection after the first: the cue to sync what was
	// missed. ConnectionID is the new connection's.
	EventConnectionRecovered protocol.EventType = "connection.recovered"
)

// Event is what handlers receive: an event from the server, or one the
// client makes itself, with the client's own state that never crosses
// the wire.
type Event struct {
	protocol.Event
	// Online is set on EventConnectionChanged when the connection came up
	// and on EventConnectionRecovered; it is false on every other event.
	Online bool
}

// Handler handles one event. Handlers run one at a time on the client's
// dispatcher goroutine, in the order the events arrived; a handler that
// panics is recovered and logged, and the next one still runs. A handler
// may call any method of the Client except Close, which waits for the
// dispatcher and so for the handler itself (call it in a new goroutine).
type Handler func(ev Event)

// ErrorEvent reports an error the client handled by itself: a failed
// connection attempt, a connection that ended, the error that stopped the
// client from reconnecting, or an invalid event dropped from a sync page.
type ErrorEvent struct {
	// Err is the error: a *TransportError, *FrameError, *DecodeError,
	// *TokenError or *protocol.APIError for the connection, a
	// *protocol.DroppedEvent for an event dropped from a sync page, a
	// *HandlerPanicError for an event handler that panicked.
	Err error
	// Permanent is set on the error that stopped the client from
	// reconnecting; Client.Err returns it until the next Connect.
	Permanent bool
}

// ErrorHandler handles an ErrorEvent, on the same dispatcher goroutine and
// in the same order as events.
type ErrorHandler func(ev ErrorEvent)

// subscription is one registered handler. removed is set by its
// unsubscribe func, so that an event already queued is not delivered to a
// handler that has gone.
type subscription struct {
	all     bool
	typ     protocol.EventType
	h       Handler
	eh      ErrorHandler
	removed atomic.Bool
}

// registry holds the handlers, in the order they were added.
type registry struct {
	mu   sync.Mutex // guards the field below
	subs []*subscription
}

func (r *registry) add(s *subscription) func() {
	r.mu.Lock()
	r.subs = append(r.subs, s)
	r.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.removed.Store(true)
			r.mu.Lock()
			defer r.mu.Unlock()
			for i, x := range r.subs {
				if x == s {
					r.subs = append(r.subs[:i:i], r.subs[i+1:]...)
					break
				}
			}
		})
	}
}

// snapshot returns the handlers for which match is true, so that they can
// be called without the registry's lock.
func (r *registry) snapshot(match func(*subscription) bool) []*subscription {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*subscription
	for _, s := range r.subs {
		if match(s) {
			out = append(out, s)
		}
	}
	return out
}

// On registers h for events of type t and returns a func that unregisters
// it. After unsubscribe returns, h is not called again (unless it is
// running at that moment). Events the client makes itself
// (connection.changed, connection.recovered) are delivered too.
func (c *Client) On(t protocol.EventType, h Handler) (unsubscribe func()) {
	return c.handlers.add(&subscription{typ: t, h: h})
}

// OnAll registers h for every event, health.check and the client's own
// connection events included, and returns a func that unregisters it.
func (c *Client) OnAll(h Handler) (unsubscribe func()) {
	return c.handlers.add(&subscription{all: true, h: h})
}

// OnError registers h for the connection's errors and returns a func that
// unregisters it.
func (c *Client) OnError(h ErrorHandler) (unsubscribe func()) {
	return c.handlers.add(&subscription{eh: h})
}

// emit queues ev for the handlers. It never blocks and takes no lock a
// handler could hold, so it is safe on the read loop and under c.mu (which
// keeps connection events in the order of the state changes).
func (c *Client) emit(ev Event) {
	c.disp.Push(func() {
		subs := c.handlers.snapshot(func(s *subscription) bool {
			return s.h != nil && (s.all || s.typ == ev.Type)
		})
		for _, s := range subs {
			if s.removed.Load() {
				continue
			}
			c.callHandler(s.h, ev)
		}
	})
}

// callHandler calls h with ev; a panic is recovered, logged, and reported
// to the error handlers as a *HandlerPanicError, and the next handler still
// runs.
func (c *Client) callHandler(h Handler, ev Event) {
	defer func() {
		if r := recover(); r != nil {
			err := &HandlerPanicError{EventType: ev.Type, Value: r, Stack: debug.Stack()}
			c.log.Error("outpost client: event handler panicked", "event_type", ev.Type, "panic", fmt.Sprint(r), "stack", string(err.Stack))
			c.emitError(ErrorEvent{Err: err})
		}
	}()
	h(ev)
}

// emitError queues an ErrorEvent for the error handlers.
func (c *Client) emitError(ev ErrorEvent) {
	c.disp.Push(func() {
		subs := c.handlers.snapshot(func(s *subscription) bool { return s.eh != nil })
		for _, s := range subs {
			if s.removed.Load() {
				continue
			}
			dispatch.Call(c.log, "outpost client: error handler", func() { s.eh(ev) })
		}
	})
}
